"""Lint of a release's Alembic revisions, read from its files without running them.

Each revision's `upgrade()` is read with `ast`: the `op.*` calls it makes (in `with
op.batch_alter_table(...) as batch_op:` blocks too), and the SQL it passes to
`op.execute(...)`, parsed by PostgreSQL's own parser (pglast). Nothing of the project
runs, so the lint is the same on a laptop, in the dry run and in the deploy, and it reads
exactly the revisions a database has not run yet (`pending`), not the whole history
(where every table would look new).

Each finding has a class, for what it does to a running system:
- `lock`: takes a lock that holds up the running release's queries for as long as the
  statement runs (an index built without CONCURRENTLY, a column type change, SET NOT
  NULL, a foreign key validated at once, a backfill in the DDL's transaction);
- `breaks`: breaks the running (old) release's code (a NOT NULL column without a
  default, a rename);
- `loses`: loses data (a dropped column or table; a drop and an add that is a rename);
- `fails`: fails when it runs (CREATE INDEX CONCURRENTLY inside the migration's
  transaction, outside `op.get_context().autocommit_block()`);
- `irreversible`: its `downgrade()` is missing or empty (a rollback past it needs a
  backup).

Tables a revision creates itself are new: the lock and break rules skip them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from conveyor.errors import ConfigError
from conveyor.migrations.lint_sql import sql_findings
from conveyor.migrations.revisions import Revision

CLASSES = {
    "lock": "takes a lock that holds up the running release",
    "breaks": "breaks the running release's code",
    "loses": "loses data",
    "fails": "fails when it runs",
    "irreversible": "cannot be rolled back",
}
# Refused in production-like environments unless accepted (--accept RULE --why ...).
BLOCKING = frozenset({"breaks", "loses"})
# Refused everywhere: it would fail on the host anyway, mid-deploy.
FAILING = frozenset({"fails"})


@dataclass(frozen=True)
class Finding:
    """One rule a revision's upgrade breaks, where, and why in words."""

    revision: str
    rule: str
    kind: str  # a key of CLASSES
    message: str
    path: str
    line: int

    def describe(self) -> str:
        """`0004 drop-column (loses data): ... [versions/0004_x.py:12]`."""
        return (
            f"{self.revision} {self.rule} ({CLASSES[self.kind]}): {self.message} "
            f"[{self.path}:{self.line}]"
        )


@dataclass(frozen=True)
class Acceptance:
    """Findings a deploy goes ahead with: rules (`drop-column`) or `REVISION:RULE`, and why
    (recorded with the deploy)."""

    rules: tuple[str, ...] = ()
    why: str = ""

    def __post_init__(self) -> None:
        if self.rules and not self.why.strip():
            raise ConfigError(
                f"--accept {' '.join(self.rules)} needs --why: the reason is recorded with the "
                "deploy",
                hint='e.g. --why "the column has been unused since 2.3"',
            )
        for rule in self.rules:
            if rule.rpartition(":")[2] not in RULES:
                raise ConfigError(
                    f"--accept {rule}: no such lint rule",
                    hint=f"the rules: {', '.join(RULES)}",
                )


@dataclass(frozen=True)
class Verdicts:
    """A release's findings and what the deploy does about each: in a production-like
    environment, one that breaks the running code or loses data is refused unless accepted
    (`--accept RULE` or `--accept REVISION:RULE`, with `--why`); one that would fail is
    refused everywhere; the rest are said."""

    findings: tuple[Finding, ...] = ()
    production_like: bool = True
    accepted: frozenset[str] = frozenset()
    why: str = ""
    environment: str = ""  # for the way out a refusal names
    graph: Mapping[str, Revision] = field(default_factory=dict)  # the release's revisions
    versions: str = ""  # sha256 of the revision files, recorded with the migrations

    def is_accepted(self, finding: Finding) -> bool:
        return (
            finding.rule in self.accepted or f"{finding.revision}:{finding.rule}" in self.accepted
        )

    def refused(self) -> list[Finding]:
        """The findings that stop a deploy whose pending range holds them."""
        return [
            f
            for f in self.findings
            if not self.is_accepted(f)
            and (f.kind in FAILING or (self.production_like and f.kind in BLOCKING))
        ]

    def among(self, revisions: Sequence[str]) -> list[Finding]:
        """The findings of `revisions`, in their order."""
        order = {rev: n for n, rev in enumerate(revisions)}
        return sorted(
            (f for f in self.findings if f.revision in order),
            key=lambda f: (order[f.revision], f.line),
        )


def refusal(findings: Sequence[Finding], environment: str) -> tuple[str, str]:
    """What refusing `findings` says (the deploy and its dry run alike), and the way out."""
    said = "; ".join(f.describe() for f in findings)
    rules = sorted({f.rule for f in findings if f.kind not in FAILING})
    if not rules:
        return said, "fix the revision and build again"
    accept = " ".join(f"--accept {rule}" for rule in rules)
    return said, (
        f'if that is what you mean: conveyor deploy {environment} {accept} --why "..." '
        "(the reason is recorded with the deploy)"
    )


RULES = (
    "add-not-null-column", "backfill-with-ddl", "change-type", "concurrently-in-transaction",
    "create-index", "drop-add-rename", "drop-column", "drop-table", "foreign-key",
    "no-downgrade", "rename", "rename-column", "rename-table", "set-not-null", "unparsed-sql",
)  # fmt: skip


def lint(graph: Mapping[str, Revision], files: Mapping[str, bytes]) -> list[Finding]:
    """Every finding of every revision in `graph` (files: path -> content)."""
    found: list[Finding] = []
    for revision in graph.values():
        found += lint_revision(revision.id, revision.path, files[revision.path])
    return found


def pending(graph: Mapping[str, Revision], at: Sequence[str]) -> list[str]:
    """The revisions a database at `at` (its heads; empty: no revision) has not run, in an
    order Alembic would run them; everything when `at` names a revision `graph` lacks."""
    applied: set[str] = set()
    stack = [rev for rev in at if rev in graph]
    if len(stack) != len(at):
        stack = []
    while stack:
        rev = stack.pop()
        if rev not in applied:
            applied.add(rev)
            stack.extend(graph[rev].down)
    order: list[str] = []
    seen: set[str] = set()

    def visit(rev: str) -> None:
        if rev in seen or rev in applied:
            return
        seen.add(rev)
        for down in graph[rev].down:
            if down in graph:
                visit(down)
        order.append(rev)

    for rev in sorted(graph):
        visit(rev)
    return order


def lint_revision(revision: str, path: str, data: bytes) -> list[Finding]:
    """The findings of one revision file."""
    tree = ast.parse(data, filename=path)
    functions = {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    found: list[Finding] = []

    def add(rule: str, kind: str, message: str, line: int) -> None:
        found.append(Finding(revision, rule, kind, message, path, line))

    down = functions.get("downgrade")
    if _merges(tree):
        pass  # `alembic merge` writes an empty downgrade: there is nothing to undo
    elif down is None:
        add("no-downgrade", "irreversible", "it has no downgrade()", 1)
    elif not _does_something(down.body):
        add("no-downgrade", "irreversible", "its downgrade() does nothing", down.lineno)
    upgrade = functions.get("upgrade")
    if upgrade is None:
        return found
    calls = list(_op_calls(upgrade.body, autocommit=False, batch=None))
    new = {_text(c.args[0]) for c, _ in calls if _name(c) == "create_table" and c.args}
    ddl: list[tuple[int, bool]] = []
    rows: list[tuple[int, bool]] = []  # statements that change rows (a backfill)
    drops: dict[str, list[tuple[str, int]]] = {}
    adds: dict[str, list[tuple[str, int]]] = {}
    for call, autocommit in calls:
        name, line = _name(call), call.lineno
        table = _table(call)
        if name == "execute":
            for rule, kind, message, is_data in sql_findings(_sql_of(call), autocommit, new):
                if rule:
                    add(rule, kind, message, line)
                (rows if is_data else ddl).append((line, autocommit))
            continue
        if name == "bulk_insert":
            rows.append((line, autocommit))
            continue
        ddl.append((line, autocommit))
        existing = table is not None and table not in new
        if name == "drop_column":
            column = _text(call.args[-1]) if len(call.args) > 1 else "?"
            table = table or "?"
            drops.setdefault(table, []).append((column, line))
            add("drop-column", "loses", f"drops {table}.{column}: its data is gone, and the "
                "running release's queries of it fail", line)  # fmt: skip
        elif name == "drop_table":
            add("drop-table", "loses", f"drops table {table}: its rows are gone", line)
        elif name == "add_column" and existing:
            new_column = _column(call)
            if new_column is not None:
                adds.setdefault(table or "", []).append((new_column[0], line))
                if new_column[1]:
                    add("add-not-null-column", "breaks", f"adds {table}.{new_column[0]} NOT NULL "
                        "without a server_default: the running release's INSERTs fail, and a "
                        "table with rows refuses it", line)  # fmt: skip
        elif name == "alter_column" and existing:
            keywords = {k.arg: k.value for k in call.keywords}
            if "new_column_name" in keywords:
                add("rename-column", "breaks", f"renames a column of {table}: the running "
                    "release still uses the old name", line)  # fmt: skip
            if "type_" in keywords:
                add("change-type", "lock", f"changes a column's type: {table} is rewritten "
                    "under an ACCESS EXCLUSIVE lock", line)  # fmt: skip
            if _false(keywords.get("nullable")):
                add("set-not-null", "lock", f"sets NOT NULL: every row of {table} is checked "
                    "under an ACCESS EXCLUSIVE lock", line)  # fmt: skip
        elif name == "rename_table":
            add("rename-table", "breaks", f"renames table {table}: the running release still "
                "uses the old name", line)  # fmt: skip
        elif name == "create_index" and existing:
            keywords = {k.arg: k.value for k in call.keywords}
            if _true(keywords.get("postgresql_concurrently")):
                if not autocommit:
                    add("concurrently-in-transaction", "fails", "CREATE INDEX CONCURRENTLY "
                        "cannot run inside the migration's transaction: put it in `with "
                        "op.get_context().autocommit_block():`", line)  # fmt: skip
            else:
                add("create-index", "lock", f"builds an index on {table} without "
                    "CONCURRENTLY: writes to it wait until it is built", line)  # fmt: skip
        elif name == "create_foreign_key" and existing:
            keywords = {k.arg: k.value for k in call.keywords}
            if not _true(keywords.get("postgresql_not_valid")):
                add("foreign-key", "lock", f"adds a foreign key to {table} and validates every "
                    "row at once, under a lock that holds up writes to both tables (add it "
                    "NOT VALID, VALIDATE it later)", line)  # fmt: skip
    for table, dropped in drops.items():
        for (column, line), (added, _) in zip(dropped, adds.get(table, []), strict=False):
            add("drop-add-rename", "loses", f"drops {table}.{column} and adds {table}.{added}: "
                "if that is a rename, the data is lost; rename it (alter_column "
                "new_column_name) instead", line)  # fmt: skip
    in_transaction = [line for line, auto in rows if not auto]
    if in_transaction and any(not auto for _, auto in ddl):
        add("backfill-with-ddl", "lock", "changes rows in the same transaction as its schema "
            "changes: the tables stay locked until the backfill is done (backfill in "
            "op.get_context().autocommit_block(), or in a revision of its own)",
            in_transaction[0])  # fmt: skip
    return found


def _op_calls(
    body: Sequence[ast.stmt], *, autocommit: bool, batch: str | None, alias: str = "batch_op"
) -> Iterator[tuple[ast.Call, bool]]:
    """The `op.X(...)`/`batch_op.X(...)` calls in `body`, in order, and whether each is in
    an autocommit block. A batch_op call comes with its table as its first argument, as
    the `op` call of the same name takes it."""
    for statement in body:
        if isinstance(statement, ast.With | ast.AsyncWith):
            inner, table, name = autocommit, batch, alias
            for item in statement.items:
                expr = item.context_expr
                if not isinstance(expr, ast.Call) or not isinstance(expr.func, ast.Attribute):
                    continue
                inner = inner or expr.func.attr == "autocommit_block"
                if _name(expr) == "batch_alter_table" and expr.args:
                    table = _text(expr.args[0]) or None
                    if isinstance(item.optional_vars, ast.Name):  # `as batch_op`, `as batch`
                        name = item.optional_vars.id
            yield from _op_calls(statement.body, autocommit=inner, batch=table, alias=name)
            continue
        blocks = _blocks(statement)
        if blocks:  # if/for/while/try: their bodies, keeping what encloses them
            for block in blocks:
                yield from _op_calls(block, autocommit=autocommit, batch=batch, alias=alias)
            continue
        for node in ast.walk(statement):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            func = node.func
            if not isinstance(func.value, ast.Name):
                continue
            if func.value.id == alias and batch is not None:
                # As the `op` call of the same name: the table where that one takes it.
                at = _TABLE_AT.get(func.attr, (0, ""))[0]
                args = [*node.args[:at], ast.Constant(batch), *node.args[at:]]
                node = ast.Call(
                    func=ast.Attribute(ast.Name("op"), func.attr),
                    args=args,
                    keywords=node.keywords,
                    lineno=node.lineno,
                )
                yield node, autocommit
                continue
            if _name(node):
                yield node, autocommit


def _blocks(statement: ast.stmt) -> list[list[ast.stmt]]:
    """The statement lists inside a compound statement (none for a simple one)."""
    if isinstance(statement, ast.If | ast.For | ast.AsyncFor | ast.While):
        return [statement.body, statement.orelse]
    if isinstance(statement, ast.Try):
        handlers = [handler.body for handler in statement.handlers]
        return [statement.body, *handlers, statement.orelse, statement.finalbody]
    return []


def _name(call: ast.Call) -> str:
    """ "drop_column" for op.drop_column(...) / batch_op.drop_column(...), else ""."""
    func = call.func
    if (
        isinstance(func, ast.Attribute)
        and isinstance(func.value, ast.Name)
        and func.value.id in ("op", "batch_op")
    ):
        return func.attr
    return ""


# Where an op takes its table: (position, keyword); the others take it first.
_TABLE_AT = {"create_index": (1, "table_name"), "create_foreign_key": (1, "source_table")}


def _table(call: ast.Call) -> str | None:
    """The table a call names (a literal), if any."""
    position, keyword = _TABLE_AT.get(_name(call), (0, "table_name"))
    if len(call.args) > position:
        return _text(call.args[position]) or None
    for named in call.keywords:
        if named.arg in (keyword, "old_table_name"):
            return _text(named.value) or None
    return None


def _column(call: ast.Call) -> tuple[str, bool] | None:
    """add_column's Column: its name, and whether it is NOT NULL without a server default."""
    column = call.args[1] if len(call.args) > 1 else None
    if not isinstance(column, ast.Call) or not column.args:
        return None
    name = _text(column.args[0]) or "?"
    keywords = {k.arg: k.value for k in column.keywords}
    not_null = _false(keywords.get("nullable")) or _true(keywords.get("primary_key"))
    return name, not_null and "server_default" not in keywords


def _sql_of(call: ast.Call) -> str:
    """The SQL literal op.execute(...) passes, as a string or in sa.text(...)."""
    first = call.args[0] if call.args else None
    if isinstance(first, ast.Call) and first.args:  # op.execute(sa.text("..."))
        first = first.args[0]
    return _text(first) if first is not None else ""


def _merges(tree: ast.Module) -> bool:
    """Whether the revision's down_revision is a tuple of several (a merge point)."""
    for node in tree.body:
        target = node.targets[0] if isinstance(node, ast.Assign) and node.targets else None
        if isinstance(node, ast.AnnAssign):
            target = node.target
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and target.id == "down_revision":
            return isinstance(value, ast.Tuple | ast.List) and len(value.elts) > 1
    return False


def _does_something(body: Sequence[ast.stmt]) -> bool:
    return any(
        not isinstance(s, ast.Pass)
        and not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in body
    )


def _text(node: ast.expr) -> str:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""


def _true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False
