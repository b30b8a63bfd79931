"""The migration lint, on revision files as users write them. Pure logic: the files are
read with ast and pglast, nothing runs (the deploy's use of it runs in tests/integration)."""

from __future__ import annotations

import pytest

from conveyor.migrations.lint import Verdicts, lint_revision, pending
from conveyor.migrations.revisions import Revision

HEAD = 'from alembic import op\nimport sqlalchemy as sa\n\nrevision = "0002"\ndown_revision = "0001"\n\n'
DOWN = "\n\ndef downgrade() -> None:\n    op.drop_column('orders', 'x')\n"


def rules(upgrade: str, downgrade: str = DOWN) -> list[tuple[str, str]]:
    text = HEAD + "def upgrade() -> None:\n" + upgrade + downgrade
    return [(f.rule, f.kind) for f in lint_revision("0002", "v/0002.py", text.encode())]


CASES = [
    ("    op.add_column('orders', sa.Column('note', sa.Text(), nullable=True))\n", []),
    (
        "    op.add_column('orders', sa.Column('qty', sa.Integer(), nullable=False))\n",
        [("add-not-null-column", "breaks")],
    ),
    (
        "    op.add_column('orders', sa.Column('qty', sa.Integer(), nullable=False, server_default='0'))\n",
        [],
    ),
    ("    op.drop_column('orders', 'qty')\n", [("drop-column", "loses")]),
    ("    op.drop_table('orders')\n", [("drop-table", "loses")]),
    (
        "    op.alter_column('orders', 'qty', new_column_name='quantity')\n",
        [("rename-column", "breaks")],
    ),
    ("    op.alter_column('orders', 'qty', type_=sa.BigInteger())\n", [("change-type", "lock")]),
    ("    op.alter_column('orders', 'qty', nullable=False)\n", [("set-not-null", "lock")]),
    ("    op.create_index('ix', 'orders', ['item'])\n", [("create-index", "lock")]),
    (
        "    op.create_index('ix', 'orders', ['item'], postgresql_concurrently=True)\n",
        [("concurrently-in-transaction", "fails")],
    ),
    (
        "    with op.get_context().autocommit_block():\n"
        "        op.create_index('ix', 'orders', ['item'], postgresql_concurrently=True)\n",
        [],
    ),
    (
        "    op.create_foreign_key('fk', 'orders', 'users', ['user_id'], ['id'])\n",
        [("foreign-key", "lock")],
    ),
    (
        "    op.create_foreign_key('fk', 'orders', 'users', ['user_id'], ['id'], postgresql_not_valid=True)\n",
        [],
    ),
    # A table the revision creates is new: nothing waits on it, no code uses it yet.
    (
        "    op.create_table('users', sa.Column('id', sa.Integer(), primary_key=True))\n"
        "    op.create_index('ix_users', 'users', ['id'])\n",
        [],
    ),
    (
        "    op.drop_column('orders', 'qty')\n"
        "    op.add_column('orders', sa.Column('quantity', sa.Integer(), nullable=True))\n",
        [("drop-column", "loses"), ("drop-add-rename", "loses")],
    ),
    (
        "    op.add_column('orders', sa.Column('total', sa.Integer(), nullable=True))\n"
        "    op.execute('UPDATE orders SET total = 0')\n",
        [("backfill-with-ddl", "lock")],
    ),
    (
        "    with op.batch_alter_table('orders') as batch_op:\n"
        "        batch_op.drop_column('qty')\n",
        [("drop-column", "loses")],
    ),
    (
        "    with op.batch_alter_table('orders') as batch:\n"  # any name, as the demo app's
        "        batch.alter_column('qty', new_column_name='quantity')\n",
        [("rename-column", "breaks")],
    ),
    (  # nested in an if: the autocommit block still counts
        "    if op.get_bind().dialect.name == 'postgresql':\n"
        "        with op.get_context().autocommit_block():\n"
        "            op.create_index('ix', 'orders', ['item'], postgresql_concurrently=True)\n",
        [],
    ),
    (
        "    for table in ('orders', 'lines'):\n        op.drop_column(table, 'qty')\n",
        [("drop-column", "loses")],
    ),
    (
        "    with op.batch_alter_table('orders') as batch_op:\n"
        "        batch_op.create_index('ix', ['item'])\n",
        [("create-index", "lock")],
    ),
    ("    op.execute('ALTER INDEX ix RENAME TO ix_orders')\n", []),
    ("    op.execute('ALTER TABLE orders DROP COLUMN qty')\n", [("drop-column", "loses")]),
    (
        "    op.execute(sa.text('CREATE INDEX ix ON orders (item)'))\n",
        [("create-index", "lock")],
    ),
    (
        "    op.execute('ALTER TABLE orders ADD COLUMN qty int NOT NULL')\n",
        [("add-not-null-column", "breaks")],
    ),
    ("    op.execute('ALTER TABLE orders RENAME COLUMN a TO b')\n", [("rename", "breaks")]),
    ("    op.execute('DROP TABLE orders')\n", [("drop-table", "loses")]),
]


@pytest.mark.parametrize(("upgrade", "expected"), CASES)
def test_each_rule(upgrade: str, expected: list[tuple[str, str]]) -> None:
    assert rules(upgrade) == expected


def test_a_missing_or_empty_downgrade_is_irreversible() -> None:
    assert rules("    pass\n", "\n\ndef downgrade() -> None:\n    pass\n") == [
        ("no-downgrade", "irreversible")
    ]
    assert rules("    pass\n", "") == [("no-downgrade", "irreversible")]


def test_a_finding_names_its_rule_class_and_line() -> None:
    text = HEAD + "def upgrade() -> None:\n    op.drop_column('orders', 'qty')\n" + DOWN
    (finding,) = lint_revision("0002", "migrations/versions/0002_x.py", text.encode())
    assert finding.describe() == (
        "0002 drop-column (loses data): drops orders.qty: its data is gone, and the running "
        "release's queries of it fail [migrations/versions/0002_x.py:8]"
    )


def test_pending_is_exactly_what_the_database_has_not_run() -> None:
    graph = {
        "a": Revision("a", (), "a.py"),
        "b": Revision("b", ("a",), "b.py"),
        "c": Revision("c", ("b",), "c.py"),
        "d": Revision("d", ("c",), "d.py"),
    }
    assert pending(graph, ["b"]) == ["c", "d"]
    assert pending(graph, []) == ["a", "b", "c", "d"]
    assert pending(graph, ["d"]) == []
    assert pending(graph, ["zz"]) == ["a", "b", "c", "d"]  # unknown: everything, to be safe


def test_a_merge_revision_s_empty_downgrade_is_not_a_finding() -> None:
    text = (
        'from alembic import op\n\nrevision = "m1"\ndown_revision = ("a1", "b1")\n\n'
        "def upgrade() -> None:\n    pass\n\n\ndef downgrade() -> None:\n    pass\n"
    )
    assert lint_revision("m1", "v/m1.py", text.encode()) == []


def test_a_finding_that_would_fail_can_be_accepted_when_the_lint_is_wrong() -> None:
    text = (
        HEAD
        + "def upgrade() -> None:\n    op.create_index('ix', 'orders', ['a'], postgresql_concurrently=True)\n"
        + DOWN
    )
    findings = tuple(lint_revision("0002", "v/0002.py", text.encode()))
    assert [f.rule for f in Verdicts(findings).refused()] == ["concurrently-in-transaction"]
    accepted = Verdicts(findings, accepted=frozenset({"concurrently-in-transaction"}), why="x")
    assert accepted.refused() == []
