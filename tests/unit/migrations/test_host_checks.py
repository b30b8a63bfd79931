"""The runner's own checks that need no database: what a downgrade drops, and how long a
lock was held, seen poll by poll. Pure logic (the runner runs against PostgreSQL in
tests/integration/test_migrations_runner.py)."""

from __future__ import annotations

import ast

from conveyor.migrations.host_alembic import dropped
from conveyor.migrations.host_rehearse import Stretches


def drops(source: str) -> list[str]:
    function = ast.parse(source).body[0]
    assert isinstance(function, ast.FunctionDef)
    return list(dropped(function))


def test_a_downgrade_s_drops_are_found_in_op_calls_and_in_its_sql() -> None:
    assert drops(
        "def downgrade():\n"
        '    """Drop table data we never needed."""\n'  # a docstring is not SQL
        "    op.drop_column('orders', 'note')\n"
        "    op.drop_table(table_name='lines')\n"
        "    op.execute('ALTER TABLE orders DROP COLUMN IF EXISTS total')\n"
        "    op.execute(sa.text('DROP TABLE audit'))\n"
    ) == ["orders.note", "lines", "total", "audit"]
    assert drops("def downgrade():\n    op.add_column('orders', sa.Column('x'))\n") == []


def test_two_short_locks_with_a_gap_are_two_stretches_not_one_long_one() -> None:
    seen = Stretches()
    seen.seen(0.0, [(1, "orders")])
    seen.seen(0.1, [(1, "orders")])
    seen.seen(0.2, [])  # the lock went away: a backfill in autocommit_block ran here
    seen.seen(3.0, [(1, "orders"), (2, "lines")])
    longest = seen.done()
    assert round(longest[1], 2) == 0.12  # 0.1 s seen, plus one poll
    assert round(longest[2], 2) == 0.02
    assert seen.names == {1: "orders", 2: "lines"}
