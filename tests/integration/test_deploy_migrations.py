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
    first = local.deploy()
    assert first.code == 0, first.out + first.err
    said = "2 migration(s) applied: 0001 → 0002; database was at empty (no revision), now at 0002; under conveyor's lock, lock_timeout 300ms"
    assert said in first.out
    assert revision(database) == "0002"
    recorded = migrate_event(local)
    assert (recorded["before"], recorded["ran"], recorded["after"]) == ("", "0001 0002", "0002")

    # The next release adds a column while a report holds the table in a long transaction:
    # the migration gives up after lock_timeout, twice, and nothing switches.
    (local.root / "migrations" / "versions" / "0003_order_note.py").write_text(NOTE)
    commit(local, "orders get a note")
    serving = local.get()["version"]
    with psycopg.connect(database) as report, Load(local.url) as load:
        report.execute("SELECT * FROM orders")
        blocked = local.deploy()
    assert blocked.code == 1, blocked.out + blocked.err
    assert (
        "migrations on local waited longer than lock_timeout (300ms) for a table lock on each "
        "of 2 attempts and were rolled back; the database stays at 0002; nothing switched"
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
