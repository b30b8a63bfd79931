"""The migration lint's rules for SQL a revision passes to `op.execute`, read by
PostgreSQL's own parser (pglast): see lint.py for the classes and what each does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

DATA = ("UpdateStmt", "InsertStmt", "DeleteStmt")  # statements that change rows


def sql_findings(sql: str, autocommit: bool, new: set[str]) -> Iterator[tuple[str, str, str, bool]]:
    """(rule, class, message, is data) for each statement of `sql` (op.execute's literal;
    `autocommit`: inside an autocommit block; `new`: tables the revision creates); a rule
    of "" for a statement that breaks none."""
    from pglast import parse_sql
    from pglast.enums import AlterTableType, ConstrType, ObjectType
    from pglast.parser import ParseError

    code_names = (ObjectType.OBJECT_TABLE, ObjectType.OBJECT_COLUMN, ObjectType.OBJECT_VIEW)
    if not sql:
        yield "", "", "", False
        return
    try:
        statements = parse_sql(sql)
    except ParseError as error:
        yield "unparsed-sql", "lock", f"its SQL does not parse as PostgreSQL ({error})", False
        return
    for raw in statements:
        node: Any = raw.stmt
        kind = type(node).__name__
        if kind in DATA:
            yield "", "", "", True
            continue
        relation = getattr(node, "relation", None)
        table = getattr(relation, "relname", None) or ""
        existing = table not in new
        if kind == "DropStmt" and node.removeType == ObjectType.OBJECT_TABLE:
            yield "drop-table", "loses", "drops a table: its rows are gone", False
        elif kind == "IndexStmt" and existing:
            if not node.concurrent:
                yield "create-index", "lock", f"builds an index on {table} without " \
                    "CONCURRENTLY: writes to it wait until it is built", False  # fmt: skip
            elif not autocommit:
                yield "concurrently-in-transaction", "fails", "CREATE INDEX CONCURRENTLY " \
                    "cannot run inside the migration's transaction", False  # fmt: skip
        elif kind == "RenameStmt" and existing and node.renameType in code_names:
            yield "rename", "breaks", f"renames in {table}: the running release still uses " \
                "the old name", False  # fmt: skip
        elif kind == "AlterTableStmt" and existing:
            for cmd in node.cmds or ():
                subtype = cmd.subtype
                if subtype == AlterTableType.AT_DropColumn:
                    yield "drop-column", "loses", f"drops {table}.{cmd.name}: its data is " \
                        "gone", False  # fmt: skip
                elif subtype == AlterTableType.AT_AlterColumnType:
                    yield "change-type", "lock", f"changes a column's type: {table} is " \
                        "rewritten under an ACCESS EXCLUSIVE lock", False  # fmt: skip
                elif subtype == AlterTableType.AT_SetNotNull:
                    yield "set-not-null", "lock", f"sets NOT NULL on {table}.{cmd.name}: " \
                        "every row is checked under an ACCESS EXCLUSIVE lock", False  # fmt: skip
                elif subtype == AlterTableType.AT_AddColumn and cmd.def_ is not None:
                    types = {c.contype for c in (cmd.def_.constraints or ())}
                    if (
                        ConstrType.CONSTR_NOTNULL in types
                        and ConstrType.CONSTR_DEFAULT not in types
                    ):
                        yield "add-not-null-column", "breaks", f"adds {table}.{cmd.def_.colname} " \
                            "NOT NULL without a default", False  # fmt: skip
                elif subtype == AlterTableType.AT_AddConstraint and cmd.def_ is not None:
                    constraint = cmd.def_
                    if (
                        constraint.contype == ConstrType.CONSTR_FOREIGN
                        and not constraint.skip_validation
                    ):
                        yield "foreign-key", "lock", f"adds a foreign key to {table} and " \
                            "validates every row at once (add it NOT VALID)", False  # fmt: skip
        yield "", "", "", False
