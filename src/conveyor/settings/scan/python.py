"""Python files as syntax trees: literals in assignments, connection calls and getenv defaults.

Scanning uses the standard library's `ast` (about ten times faster than libcst here, which
matters for a pipeline step); `--fix` uses libcst, which keeps formatting and comments.
"""

from __future__ import annotations

import ast
import re
import warnings
from bisect import bisect_left
from dataclasses import dataclass

from conveyor.settings.scan.grammar import split_newer_syntax
from conveyor.settings.scan.group import propose
from conveyor.settings.scan.model import Context, Finding
from conveyor.settings.scan.rules import classify, severity_for
from conveyor.settings.scan.text import scan_text

# Calls that open connections, by their last name, and the family that names their settings.
CONNECTION_CALLS = {
    "create_engine": "DB", "create_async_engine": "DB", "connect": "DB", "create_pool": "DB",
    "AsyncConnectionPool": "DB", "ConnectionPool": "DB", "MongoClient": "MONGO",
    "AsyncIOMotorClient": "MONGO", "Redis": "REDIS", "StrictRedis": "REDIS",
    "from_url": "REDIS", "Celery": "CELERY", "Client": "API", "AsyncClient": "API",
    "URLParameters": "BROKER", "ConnectionParameters": "BROKER",
}  # fmt: skip
_HTTP_MODULES = frozenset({"requests", "httpx", "session", "client"})
_HTTP_METHODS = frozenset({"get", "post", "put", "patch", "delete", "head", "request", "stream"})
_GETENV = frozenset(
    {"getenv", "os.getenv", "environ.get", "os.environ.get", "os.environ.setdefault"}
)
_SETTINGS_BASES = frozenset({"BaseSettings", "pydantic_settings.BaseSettings"})
# A statement with none of these on any of its lines cannot produce a finding: the rules
# need a URL, a known token, or a secret, host or port name next to the literal. Files
# without any are not parsed; statements without any are not walked. (Two patterns, one
# run on the lower-cased text: a case-insensitive alternation is five times slower.)
_WORDS = re.compile(r"://|pass|pwd|secret|token|key|credential|host|port|server|dsn")
_TOKEN_STARTS = re.compile(
    r"AKIA|ASIA|A3T|gh[pousr]_|github_pat|xox|[sr]k_live|sk-|AIza|hooks\.slack|-----BEGIN|eyJ"
)
# Only credentials and tokens matter in getenv defaults: a localhost default is a fine default.
_HIGH_ONLY = frozenset({"url-credentials", "known-token", "hard-coded-secret"})


@dataclass(frozen=True)
class _Ctx:
    """What surrounds a literal: the name it gets, the call it goes to, how --fix may treat it."""

    name: str | None
    kind: Context
    family: str | None = None
    parent: str | None = None


def dotted(node: ast.expr) -> str:
    """`os.environ.get` for the expression naming a function; "" when it is not a plain name."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        left = dotted(node.value)
        return f"{left}.{node.attr}" if left else node.attr
    return ""


def _target_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


class _Visitor(ast.NodeVisitor):
    """Collects findings; `ctx` maps a literal's id to what surrounds it."""

    def __init__(
        self, path: str, lines: list[str], candidates: list[int], *, in_tests: bool
    ) -> None:
        self.path, self.lines, self.in_tests = path, lines, in_tests
        self.candidates = candidates
        self.ctx: dict[int, _Ctx] = {}
        self.skip: set[int] = set()
        self.settings_depth = 0
        self.findings: list[Finding] = []

    def visit(self, node: ast.AST) -> None:
        """Walk a statement only when one of its lines may hold a finding."""
        if isinstance(node, ast.stmt):
            # Decorators sit on the lines above a def or class's own line.
            decorators = getattr(node, "decorator_list", ())
            first = min([node.lineno, *(d.lineno for d in decorators)])
            at = bisect_left(self.candidates, first)
            end = node.end_lineno or node.lineno
            if at == len(self.candidates) or self.candidates[at] > end:
                return
        super().visit(node)

    def _docstring(self, body: list[ast.stmt]) -> None:
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            self.skip.add(id(body[0].value))

    def visit_Module(self, node: ast.Module) -> None:
        self._docstring(node.body)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self._docstring(node.body)
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._docstring(node.body)
        is_settings = any(dotted(base) in _SETTINGS_BASES for base in node.bases)
        self.settings_depth += is_settings
        self.generic_visit(node)
        self.settings_depth -= is_settings

    def _assigned(self, target: ast.expr, value: ast.expr | None) -> None:
        name = _target_name(target)
        if name is None or value is None:
            return
        self.ctx[id(value)] = _Ctx(name, "assign")
        if isinstance(value, ast.Dict):
            self._dict(value, parent=name)

    def visit_Assign(self, node: ast.Assign) -> None:
        if len(node.targets) == 1:
            self._assigned(node.targets[0], node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._assigned(node.target, node.value)
        self.generic_visit(node)

    def _dict(self, node: ast.Dict, *, parent: str | None, family: str | None = None) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                self.ctx.setdefault(id(value), _Ctx(key.value, "dict", family, parent))

    def visit_Dict(self, node: ast.Dict) -> None:
        self._dict(node, parent=None)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = dotted(node.func)
        last = func.rpartition(".")[2]
        head = func.partition(".")[0].lower()
        if func in _GETENV and len(node.args) >= 2:
            first = node.args[0]
            name = first.value if isinstance(first, ast.Constant) else None
            self.ctx[id(node.args[1])] = _Ctx(name if isinstance(name, str) else None, "getenv")
        family = CONNECTION_CALLS.get(last)
        if family is None and last in _HTTP_METHODS and head in _HTTP_MODULES:
            family = "API"
        if family is not None:
            for arg in node.args:
                self.ctx.setdefault(id(arg), _Ctx(None, "argument", family))
            for keyword in node.keywords:
                self.ctx.setdefault(id(keyword.value), _Ctx(keyword.arg, "keyword", family))
                if isinstance(keyword.value, ast.Dict):
                    self._dict(keyword.value, parent=None, family=family)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if id(node) in self.skip or isinstance(value, bool):
            return
        if isinstance(value, str):
            self._check(node, value, is_int=False, exact=True)
        elif isinstance(value, int):
            self._check(node, str(value), is_int=True, exact=True)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        parts = []
        for part in node.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                parts.append(part.value)
            else:
                parts.append("{}")
                self.visit(part)
        # An f-string with expressions is not one fixed value; --fix leaves it to a person.
        self._check(node, "".join(parts), is_int=False, exact=len(node.values) <= 1)

    def _check(self, node: ast.expr, value: str, *, is_int: bool, exact: bool) -> None:
        ctx = self.ctx.get(id(node), _Ctx(None, "literal"))
        if is_int and ctx.name is None:
            return
        match = classify(ctx.name, value, is_int=is_int)
        if match is None or (ctx.kind == "getenv" and match.rule not in _HIGH_ONLY):
            return
        if self.settings_depth and match.rule not in _HIGH_ONLY:
            return  # defaults inside the settings class are where such values belong
        line = self.lines[node.lineno - 1] if node.lineno <= len(self.lines) else ""
        prefix = line.encode("utf-8")[: node.col_offset].decode("utf-8", "replace")
        whole = match.value == value.strip() and value == value.strip()
        self.findings.append(
            Finding(
                path=self.path,
                line=node.lineno,
                column=len(prefix) + 1,
                rule=match.rule,
                severity=severity_for(match.rule, in_tests=self.in_tests),
                value=match.value,
                name=ctx.name,
                proposal=propose(ctx.name, match.value, family=ctx.family, parent=ctx.parent),
                context=ctx.kind,
                fixable=exact and whole and not self.settings_depth and ctx.kind != "literal",
                line_text=line.strip(),
                is_int=is_int,
            )
        )


def scan_python(path: str, text: str, *, in_tests: bool) -> list[Finding] | str:
    """Findings in one Python file, or the reason it cannot be parsed."""
    candidates = _candidate_lines(text)
    if not candidates:
        return []
    newer: list[Finding] = []
    try:
        tree = _parse(text, path)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as error:
        # Syntax newer than this interpreter's `ast` (PEP 695 `type X = ...`, PEP 701
        # f-strings): libcst reads the newest grammar. Its statements that `ast` cannot read
        # are scanned as text; the rest of the file as Python.
        split = split_newer_syntax(text)
        if split is None:
            line = getattr(error, "lineno", None)
            where = f" (line {line})" if line else ""
            return f"not valid Python{where}"
        text, rest = split
        try:
            tree = _parse(text, path)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            return "not valid Python"
        newer = scan_text(path, rest, in_tests=in_tests)
    visitor = _Visitor(path, text.splitlines(), candidates, in_tests=in_tests)
    visitor.visit(tree)
    return sorted(visitor.findings + newer, key=lambda f: (f.line, f.column))


def _parse(text: str, path: str) -> ast.Module:
    # Someone else's invalid escape sequences are not ours to warn about.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return ast.parse(text, filename=path)


def _candidate_lines(text: str) -> list[int]:
    """Sorted numbers of the lines where a finding may start."""
    starts = [m.start() for m in _WORDS.finditer(text.lower())]
    starts += [m.start() for m in _TOKEN_STARTS.finditer(text)]
    lines: list[int] = []
    line, position = 1, 0
    for start in sorted(starts):
        line += text.count("\n", position, start)
        position = start
        if not lines or lines[-1] != line:
            lines.append(line)
    return lines
