"""A FastAPI app's routes, read from the syntax trees of its modules and routers.

`app.include_router(api_router, prefix=settings.API_V1_STR)`, `APIRouter(prefix="/utils")` and
`@router.get("/health-check/")` give `/api/v1/utils/health-check/`: routers are followed
through imports inside the project, prefixes evaluated statically (constants, f-strings, a
settings class's defaults). The project's code is never imported.
"""

from __future__ import annotations

import ast
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

from conveyor.project.static import Unknown, dotted_name, evaluate
from conveyor.settings.scan.grammar import parse_newest

_ROUTE_METHODS = frozenset({"get", "api_route", "head"})
_HEALTH = re.compile(r"^(health|healthz|health[-_]?check|livez|readyz|ping|status)$", re.I)
_MAX_DEPTH = 12


def find_health(root: Path, module: str, app: str) -> str | None:
    """The path of the app's health route (GET), through every router it includes; else None."""
    paths = list(_Routes(root).paths(module, app, "", 0))
    found = [p for p in paths if _is_health(p)]
    # A route named for health beats /ping or /status.
    found.sort(key=lambda p: "health" not in p.lower())
    return found[0] if found else None


def _is_health(path: str) -> bool:
    segments = [s for s in path.split("/") if s]
    return bool(segments) and "{" not in path and bool(_HEALTH.match(segments[-1]))


class _Routes:
    """Parsed modules of one project, by dotted name."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._trees: dict[str, ast.Module | None] = {}

    def tree(self, module: str) -> ast.Module | None:
        if module not in self._trees:
            self._trees[module] = None
            path = self._file(module)
            if path is not None:
                with contextlib.suppress(OSError, UnicodeDecodeError, SyntaxError, ValueError):
                    self._trees[module] = parse_newest(path.read_text(encoding="utf-8"))
        return self._trees[module]

    def _file(self, module: str) -> Path | None:
        base = self.root.joinpath(*module.split("."))
        for path in (base.with_suffix(".py"), base / "__init__.py"):
            if path.is_file():
                return path
        return None

    def is_module(self, module: str) -> bool:
        return self._file(module) is not None

    def paths(self, module: str, name: str, prefix: str, depth: int) -> Iterator[str]:
        """Every GET path served by router (or app) `name` of `module`, under `prefix`."""
        tree = self.tree(module)
        if tree is None or depth > _MAX_DEPTH:
            return
        created = self._assigned(tree, name)
        own = self._prefix(module, created) if isinstance(created, ast.Call) else ""
        if own is None:
            return  # a prefix only known at run time: no path can be told
        prefix += own
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for decorator in node.decorator_list:
                    path = self._route(module, name, decorator)
                    if path is not None:
                        yield prefix + path
            elif isinstance(node, ast.Call) and _method_of(node, name) == "include_router":
                if not node.args:
                    continue
                target = self.resolve(module, node.args[0], depth)
                more = self._prefix(module, node)
                if target is not None and more is not None:
                    yield from self.paths(*target, prefix + more, depth + 1)

    def _prefix(self, module: str, call: ast.Call) -> str | None:
        """The call's `prefix=`: "" when not given, None when not known statically."""
        given = _keyword(call, "prefix")
        return "" if given is None else self._text(module, given)

    def _route(self, module: str, name: str, decorator: ast.expr) -> str | None:
        if not isinstance(decorator, ast.Call) or _method_of(decorator, name) not in _ROUTE_METHODS:
            return None
        given = decorator.args[0] if decorator.args else _keyword(decorator, "path")
        return self._text(module, given)

    def resolve(self, module: str, expr: ast.expr, depth: int) -> tuple[str, str] | None:
        """Where the object `expr` names is defined: (module, name), following imports."""
        name = dotted_name(expr)
        if name is None or depth > _MAX_DEPTH:
            return None
        first, _, rest = name.partition(".")
        bound = self._binding(module, first, depth)
        if bound is None:
            return None
        target_module, target_name = bound
        for part in rest.split(".") if rest else ():
            if target_name:  # an attribute of a variable: not a router we can follow
                return None
            target_module, target_name = self._follow(target_module, part, depth + 1) or ("", "")
            if not target_module:
                return None
        return (target_module, target_name) if target_name else None

    def _binding(self, module: str, name: str, depth: int) -> tuple[str, str] | None:
        """(module, name) for a variable, (module, "") for a module; via imports."""
        tree = self.tree(module)
        if tree is None:
            return None
        for node in tree.body:
            if isinstance(node, ast.ImportFrom):
                source = _absolute(module, node, self.is_module(module) and self._package(module))
                for alias in node.names:
                    if (alias.asname or alias.name) == name and source:
                        return self._follow(source, alias.name, depth + 1)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname == name and self.is_module(alias.name):
                        return alias.name, ""
        defined = any(isinstance(n, ast.ClassDef) and n.name == name for n in tree.body)
        if defined or self._assigned(tree, name) is not None:
            return module, name
        return None

    def _follow(self, module: str, name: str, depth: int) -> tuple[str, str] | None:
        """`name` inside `module`: a submodule, or whatever the module binds to it."""
        if self.is_module(f"{module}.{name}"):
            return f"{module}.{name}", ""
        return self._binding(module, name, depth) if depth <= _MAX_DEPTH else None

    def _package(self, module: str) -> bool:
        path = self._file(module)
        return path is not None and path.name == "__init__.py"

    @staticmethod
    def _assigned(tree: ast.Module, name: str) -> ast.expr | None:
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == name for t in node.targets
            ):
                return node.value
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.target.id == name
            ):
                return node.value
        return None

    def _text(self, module: str, expr: ast.expr | None) -> str | None:
        """A string expression's value: constants, f-strings, settings defaults; else None."""
        if expr is None:
            return None
        try:
            value = evaluate(expr, lambda dotted: self._value(module, dotted, 0))
        except Unknown:
            return None
        return value if isinstance(value, str) else None

    def _value(self, module: str, name: str, depth: int) -> object:
        """A constant's value, or a field default of the class an instance was made from."""
        first, _, attribute = name.partition(".")
        bound = self._binding(module, first, depth)
        if bound is None or not bound[1] or depth > _MAX_DEPTH:
            raise Unknown(name)
        where, variable = bound
        tree = self.tree(where)
        value = self._assigned(tree, variable) if tree is not None else None
        if value is None:
            raise Unknown(name)
        if not attribute:
            return evaluate(value, lambda inner: self._value(where, inner, depth + 1))
        if isinstance(value, ast.Call) and "." not in attribute:
            created = self.resolve(where, value.func, depth + 1)
            if created is not None:
                owner, default = created[0], self._class_default(created, attribute)
                if default is not None:
                    return evaluate(default, lambda inner: self._value(owner, inner, depth + 1))
        raise Unknown(name)

    def _class_default(self, created: tuple[str, str], attribute: str) -> ast.expr | None:
        tree = self.tree(created[0])
        for node in tree.body if tree is not None else ():
            if isinstance(node, ast.ClassDef) and node.name == created[1]:
                for item in node.body:
                    if (
                        isinstance(item, ast.AnnAssign)
                        and isinstance(item.target, ast.Name)
                        and item.target.id == attribute
                    ):
                        return item.value
        return None


def _absolute(module: str, node: ast.ImportFrom, is_package: bool) -> str | None:
    """The absolute module an ImportFrom reads from, inside the project."""
    if node.level == 0:
        return node.module
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    if not base and not node.module:
        return None
    return ".".join([*base, *([node.module] if node.module else [])])


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _method_of(call: ast.Call, name: str) -> str | None:
    """ "get" for `name.get(...)`, else None."""
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
        return func.attr if func.value.id == name else None
    return None
