"""Migrations in a deploy, on real supervisord, Caddy and PostgreSQL: the tiny app with
Alembic migrations as users write them (pydantic-settings gives env.py its URL, psycopg 3),
run once before any switch by conveyor's runner, under its lock and `lock_timeout`."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from conveyor.demo.load import Load
from conveyor.history import HistoryStore
from tests.integration.deployed import GIT, DeployProject
from tests.postgres import fresh_database

TINYDB = Path(__file__).parents[1] / "fixtures" / "tinydb"

MIGRATIONS = """
[migrations]
run_on = "web"
lock_timeout = "300ms"
attempts = 2
"""

NOTE = '''"""Orders get a note."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.add_column("orders", sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column("orders", "note")
'''


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database("conveyor_deploy") as url:
        yield url


def with_migrations(project: DeployProject, url: str) -> None:
    """The tiny app gains Alembic, its settings class and the database's URL."""
    shutil.copytree(TINYDB, project.root, dirs_exist_ok=True)
    toml = project.root / "conveyor.toml"
    toml.write_text(toml.read_text() + MIGRATIONS)
    env = project.root / ".env.staging"
    env.write_text(env.read_text() + f"DATABASE_URL={url}\n")
    commit(project, "migrations")


def commit(project: DeployProject, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=project.root, check=True)
    subprocess.run([*GIT, "commit", "-qm", message], cwd=project.root, check=True)


def revision(url: str) -> str:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert row is not None
    return str(row[0])


def migrate_event(project: DeployProject) -> dict[str, object]:
    """The migrate step's recorded result in the latest deploy's history."""
    with HistoryStore.for_project(project.root) as store:
        latest = store.deploys("staging", limit=1)[0]
        events = [e for e in store.events(latest.id) if e.fields.get("op") == "migrate"]
        done = [e for e in store.events(latest.id) if "ran" in e.fields]
    assert events, "no migrate step in the history"
    return {**done[-1].fields, "message": done[-1].message} if done else {}


def test_migrations_run_once_under_a_lock_timeout_and_say_what_the_database_shows(
    local: DeployProject, database: str
) -> None:
    with_migrations(local, database)
    planned = local.deploy("--dry-run")
    assert planned.code == 0, planned.out + planned.err
    assert "the database (no release serves there yet) has not run: 0001, 0002" in planned.out
    first = local.deploy()
    assert first.code == 0, first.out + first.err
    said = "2 migration(s) applied: 0001 → 0002; database was at empty (no revision), now at 0002; under conveyor's lock, lock_timeout 300ms"
    assert said in first.out
    assert revision(database) == "0002"
    recorded = migrate_event(local)
    assert (recorded["before"], recorded["ran"], recorded["after"]) == ("", "0001 0002", "0002")
    assert len(str(recorded["versions"])) == 64  # the revision files' digest, with what ran

    # The next release adds a column while a report holds the table in a long transaction:
    # the migration gives up after lock_timeout, twice, and nothing switches.
    (local.root / "migrations" / "versions" / "0003_order_note.py").write_text(NOTE)
    commit(local, "orders get a note")
    serving = local.get()["version"]
    planned = local.deploy("--dry-run")
    assert planned.code == 0, planned.out + planned.err
    assert "the database (at 0002) has not run: 0003" in planned.out
    with psycopg.connect(database) as report, Load(local.url) as load:
        report.execute("SELECT * FROM orders")
        blocked = local.deploy()
    assert blocked.code == 1, blocked.out + blocked.err
    assert (
        "migrations on local waited longer than lock_timeout (300ms) for a table lock on each "
        "of 2 attempts and were rolled back; the database is at 0002; nothing switched"
    ) in blocked.err
    assert "pg_stat_activity" in blocked.err, blocked.err
    assert load.failed == []
    assert local.get()["version"] == serving
    assert revision(database) == "0002"

    # The report is over: the same release deploys, under load, without a failed request.
    with Load(local.url) as load:
        second = local.deploy()
    assert second.code == 0, second.out + second.err
    assert "1 migration(s) applied: 0003; database was at 0002, now at 0003" in second.out
    assert load.failed == []
    assert revision(database) == "0003"
    assert local.get()["version"] != serving

    # Nothing pending: the step says so, read from the database.
    local.commit("ok")
    third = local.deploy()
    assert third.code == 0, third.out + third.err
    assert "database is up to date (at 0003)" in third.out


DROP_QUANTITY = '''"""Orders lose their quantity: the data in it is gone (a backup is the way back)."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.drop_column("orders", "quantity")
    op.create_table(
        "order_lines",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("order_lines")
    op.add_column("orders", sa.Column("quantity", sa.Integer(), nullable=True))
'''


def test_a_verified_backup_before_the_migrations_and_a_restore_put_the_data_back(
    local: DeployProject, database: str
) -> None:
    with_migrations(local, database)
    toml = local.root / "conveyor.toml"
    toml.write_text(toml.read_text() + "backup = true\nkeep_backups = 2\n")
    commit(local, "backups")
    assert local.deploy().code == 0
    with psycopg.connect(database) as conn:
        conn.execute("INSERT INTO orders (item, quantity) VALUES ('tea', 3), ('cake', 1)")

    (local.root / "migrations" / "versions" / "0003_drop_quantity.py").write_text(DROP_QUANTITY)
    (local.root / "HEALTH_SQL").write_text("SELECT id, item FROM orders LIMIT 1\n")
    commit(local, "orders lose their quantity")
    dropped = local.deploy("--accept", "0003:drop-column", "--why", "a backup is taken")
    assert dropped.code == 0, dropped.out + dropped.err
    # Taken before the migration ran: two tables (orders, alembic_version), 3 rows.
    assert "backed up first: " in dropped.out
    assert "-0002 (" in dropped.out and ", 2 tables, 3 rows; verified by a restore)" in dropped.out
    assert revision(database) == "0003"
    with psycopg.connect(database) as conn:  # a row that refers to the table the dump holds
        conn.execute("INSERT INTO order_lines (order_id) SELECT min(id) FROM orders")

    listed = local.run("db", "backups", "staging")
    assert listed.code == 0, listed.err
    ids = [line.split()[0] for line in listed.out.splitlines()]
    assert len(ids) == 2 and ids[0].endswith("-empty") and ids[1].endswith("-0002")
    refused = local.run("db", "restore", "staging", ids[1])
    assert refused.code == 1 and "--yes" in refused.err
    restored = local.run("db", "restore", "staging", ids[1], "--yes")
    assert restored.code == 0, restored.out + restored.err
    assert f"restored {ids[1]}: the database is at revision 0002" in restored.out
    with psycopg.connect(database) as conn:
        rows = conn.execute("SELECT item, quantity FROM orders ORDER BY item").fetchall()
        scratch = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'conveyor_verify_%'"
        ).fetchone()
        lines = conn.execute("SELECT to_regclass('public.order_lines')").fetchone()[0]
    assert rows == [("cake", 1), ("tea", 3)]
    assert lines is None  # the table a later migration added is gone with what refers to it
    assert revision(database) == "0002"
    assert scratch == (0,)
    missing = local.run("db", "restore", "staging", "20260101T000000Z-0001", "--yes")
    assert missing.code == 1
    assert "has no backup 20260101T000000Z-0001 (it has: " in missing.err


WIDEN = '''"""Quantities get wide: the table is rewritten under an ACCESS EXCLUSIVE lock."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.alter_column("orders", "quantity", type_=sa.BigInteger())


def downgrade() -> None:
    op.alter_column("orders", "quantity", type_=sa.Integer())
'''


def test_a_rehearsal_on_the_backup_s_copy_stops_a_long_lock_on_a_large_table(
    local: DeployProject, database: str
) -> None:
    with_migrations(local, database)
    toml = local.root / "conveyor.toml"
    rehearse = (
        'backup = true\nrehearse = true\nrehearse_lock_limit = "50ms"\nlarge_table_rows = 1000\n'
    )
    toml.write_text(toml.read_text() + rehearse)
    commit(local, "rehearsals")
    first = local.deploy()
    assert first.code == 0, first.out + first.err
    assert "rehearsed on that copy first (" in first.out
    with psycopg.connect(database) as conn:
        conn.execute(
            "INSERT INTO orders (item, quantity) SELECT 'tea', n FROM generate_series(1, 200000) n"
        )

    (local.root / "migrations" / "versions" / "0003_widen_quantity.py").write_text(WIDEN)
    commit(local, "wide quantities")
    with Load(local.url) as load:
        stopped = local.deploy()
    assert stopped.code == 1, stopped.out + stopped.err
    assert (
        "rehearsal on local: on a copy of the database the pending migrations held ACCESS "
        in stopped.err
    )
    assert "EXCLUSIVE on orders (200000 rows) for " in stopped.err
    assert (
        "longer than 0.05s: every query of those tables would wait that long; nothing ran on the database, which is at 0002; nothing switched"
        in stopped.err
    )
    assert load.failed == []
    assert revision(database) == "0002"

    # With a maintenance window's limit the same release goes out, the rehearsal's figures said.
    toml.write_text(
        toml.read_text().replace('rehearse_lock_limit = "50ms"', 'rehearse_lock_limit = "60s"')
    )
    commit(local, "a maintenance window")
    widened = local.deploy()
    assert widened.code == 0, widened.out + widened.err
    assert "ACCESS EXCLUSIVE on orders " in widened.out and "(200000 rows))" in widened.out
    assert revision(database) == "0003"
