"""conveyor's Alembic runner (the script every host gets as runtime/host_alembic.py) against
the real PostgreSQL, on the tiny app's migrations as a user writes them: a pydantic-settings
class gives env.py its URL, psycopg 3 connects."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from conveyor.migrations import host_alembic, runner
from tests.postgres import fresh_database

TINYDB = Path(__file__).parents[1] / "fixtures" / "tinydb"
SCRIPT = Path(host_alembic.__file__)


class App:
    """A copy of the tiny app's migrations and a database of its own."""

    def __init__(self, root: Path, url: str) -> None:
        self.root, self.url = root, url

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        """The runner as a host runs it: the release's Python, its app directory, its values."""
        env = {"PATH": os.environ["PATH"], "DATABASE_URL": self.url}
        return subprocess.run(
            [sys.executable, str(SCRIPT), "alembic.ini", *argv],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def behind_a_reader(self, *argv: str) -> runner.Migrated:
        """The runner while a reader holds orders (ACCESS SHARE) in an open transaction,
        until the runner says it timed out and will try again: then the reader is done."""
        env = {"PATH": os.environ["PATH"], "DATABASE_URL": self.url}
        with psycopg.connect(self.url) as reader:
            reader.execute("SELECT * FROM orders")
            process = subprocess.Popen(
                [sys.executable, str(SCRIPT), "alembic.ini", *argv],
                cwd=self.root,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert process.stdout is not None
            lines = []
            for line in process.stdout:
                lines.append(line)
                if line.startswith("@retry"):
                    break
            reader.rollback()
            out, err = process.communicate(timeout=120)
        assert process.returncode == 0, "".join(lines) + out + err
        return runner.parse("".join(lines) + out)

    def said(self, *argv: str) -> runner.Migrated:
        done = self.run(*argv)
        assert done.returncode == 0, done.stdout + done.stderr
        return runner.parse(done.stdout)

    def revision(self) -> str | None:
        with psycopg.connect(self.url) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return None if row is None else str(row[0])

    def columns(self) -> set[str]:
        with psycopg.connect(self.url) as conn:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'orders'"
            ).fetchall()
        return {str(r[0]) for r in rows}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    shutil.copytree(TINYDB, tmp_path / "app")
    with fresh_database("conveyor_migrate") as url:
        yield App(tmp_path / "app", url)


def test_upgrade_says_what_it_ran_and_reads_the_revision_back(app: App) -> None:
    assert app.said("current").after == ()
    done = app.said("upgrade")
    assert (done.before, done.ran, done.after) == ((), ("0001", "0002"), ("0002",))
    assert runner.summary(done) == (
        "2 migration(s) applied: 0001 → 0002; database was at empty (no revision), now at 0002; under conveyor's lock, lock_timeout 5s"
    )
    assert app.revision() == "0002" and "quantity" in app.columns()
    again = app.said("upgrade")
    assert (again.ran, again.after) == ((), ("0002",))
    assert runner.summary(again) == (
        "database is up to date (at 0002); under conveyor's lock, lock_timeout 5s"
    )


def test_a_migration_behind_a_long_transaction_times_out_rolls_back_and_retries(
    app: App,
) -> None:
    """A reader holds orders (ACCESS SHARE) in an open transaction: ADD COLUMN (ACCESS
    EXCLUSIVE) would queue every later query of the table behind it. With lock_timeout it
    gives up after 300 ms, rolls back, and succeeds once the reader is gone."""
    app.said("upgrade")
    app.said("downgrade", "0001", "--allow-loss")
    done = app.behind_a_reader("upgrade", "--lock-timeout", "300ms", "--attempts", "5")
    assert done.retries >= 1
    assert done.after == ("0002",) and "quantity" in app.columns()
    assert "retried" in runner.summary(done)


def test_migrations_that_never_get_their_lock_fail_and_leave_the_database_as_it_was(
    app: App,
) -> None:
    app.said("upgrade")
    app.said("downgrade", "0001", "--allow-loss")
    with psycopg.connect(app.url) as reader:
        reader.execute("SELECT * FROM orders")
        failed = app.run("upgrade", "--lock-timeout", "200ms", "--attempts", "2")
    assert failed.returncode == runner.LOCKED, failed.stdout + failed.stderr
    said = runner.parse(failed.stdout)
    assert said.locked == 2 and said.retries == 1
    assert "canceling statement due to lock timeout" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert app.revision() == "0001" and "quantity" not in app.columns()


def test_two_deploys_racing_migrate_once(app: App) -> None:
    """The second runner waits on the advisory lock the first holds, then finds the
    database at head under that lock and runs nothing."""
    with psycopg.connect(app.url, autocommit=True) as holder:
        holder.execute(f"SELECT pg_advisory_lock({host_alembic.ADVISORY_KEY})")
        results: list[subprocess.CompletedProcess[str]] = []
        racers = [threading.Thread(target=lambda: results.append(app.run("upgrade"))) for _ in "ab"]
        for racer in racers:
            racer.start()
        # Both are waiting for the lock (they said so) before the holder lets go.
        with psycopg.connect(app.url, autocommit=True) as probe:
            for _ in range(600):
                waiting = probe.execute(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                ).fetchone()
                if waiting and waiting[0] == 2:
                    break
                threading.Event().wait(0.05)
        holder.execute(f"SELECT pg_advisory_unlock({host_alembic.ADVISORY_KEY})")
        for racer in racers:
            racer.join()
    said = sorted((runner.parse(r.stdout) for r in results), key=lambda d: len(d.ran))
    assert [r.returncode for r in results] == [0, 0], [r.stdout + r.stderr for r in results]
    assert [d.ran for d in said] == [(), ("0001", "0002")]
    assert all(d.waited and d.after == ("0002",) for d in said)


def test_a_downgrade_through_a_revision_that_cannot_be_undone_is_refused(app: App) -> None:
    app.said("upgrade")
    lossy = app.run("downgrade", "0001")  # 0002's downgrade drops orders.quantity
    assert lossy.returncode == runner.REFUSED
    assert runner.parse(lossy.stdout).refused == (
        "0002",
        "its downgrade() drops orders.quantity: what was written there since the upgrade is lost",
    )
    versions = app.root / "migrations" / "versions"
    text = (versions / "0002_order_quantity.py").read_text()
    (versions / "0002_order_quantity.py").write_text(
        text.replace('    op.drop_column("orders", "quantity")', "    pass")
    )
    refused = app.run("downgrade", "0001")
    assert refused.returncode == runner.REFUSED
    assert runner.parse(refused.stdout).refused == ("0002", "its downgrade() does nothing")
    assert app.revision() == "0002" and "quantity" in app.columns()


ASYNC_ENV = '''"""An async env.py, as FastAPI projects write it: the app's engine, never disposed."""

import asyncio

from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from tiny.settings import database_url

engine = create_async_engine(database_url())


def run(connection):
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


async def main():
    async with engine.connect() as connection:
        await connection.run_sync(run)


asyncio.run(main())
'''


def test_an_async_env_with_a_pooled_engine_retries_without_waiting_on_itself(app: App) -> None:
    """The failed attempt's session stays in the app's pool, holding the advisory lock: the
    retry ends that session first, and the read-back afterwards takes no lock at all."""
    (app.root / "migrations" / "env.py").write_text(ASYNC_ENV)
    app.said("upgrade")
    app.said("downgrade", "0001", "--allow-loss")
    done = app.behind_a_reader("upgrade", "--lock-timeout", "300ms", "--attempts", "5")
    assert done.retries >= 1 and not done.waited
    assert done.after == ("0002",)


def test_an_error_is_one_line_with_the_password_masked(app: App) -> None:
    app.url = app.url.replace("postgres@", "postgres:s3cret-pw@").replace(":5432/", ":1/")
    failed = app.run("upgrade")
    assert failed.returncode == runner.FAILED
    said = runner.parse(failed.stdout)
    assert said.error.startswith("OperationalError: connection")
    assert "s3cret-pw" not in failed.stdout + failed.stderr


def test_ending_its_earlier_sessions_waits_until_they_are_gone_not_for_a_deadline() -> None:
    """Inside one transaction (where Alembic runs it) pg_stat_activity is a snapshot: the
    wait must look afresh, or a session already gone keeps it waiting the whole deadline."""
    import sqlalchemy

    with fresh_database("conveyor_ended") as url:
        engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        earlier = engine.connect()
        try:
            with engine.connect() as retry:
                pid = int(earlier.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
                earlier.exec_driver_sql(f"SELECT pg_advisory_lock({host_alembic.ADVISORY_KEY})")
                with retry.begin():
                    seen = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
                    assert retry.exec_driver_sql(seen, (pid,)).scalar_one() == 1
                    started = time.monotonic()
                    host_alembic.ended(retry, [pid], wait=30.0)
                    waited = time.monotonic() - started
                    free = f"SELECT pg_try_advisory_lock({host_alembic.ADVISORY_KEY})"
                    assert retry.exec_driver_sql(free).scalar_one() is True
                assert waited < 15.0, f"waited {waited:.1f}s for a session that was gone"
        finally:
            earlier.invalidate()  # ended by the server: nothing to roll back or close there
            engine.dispose()
