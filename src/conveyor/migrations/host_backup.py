"""conveyor's database backups: run on the migration host by the Alembic runner
(`host_alembic.py`, which imports this file from beside it, `runtime/host_backup.py`).

A backup is `pg_dump -Fc` of the database the project's own `env.py` connected to, taken
under the runner's advisory lock, after it read the revision and before the first
migration runs, so it is the database *before* those migrations. Before dumping, the
database's size is checked against the free space where backups go; afterwards the dump
is restored into a scratch database (`conveyor_verify_<hex>`, dropped again) and its
tables compared with the dump's own list. Only a verified dump is kept (as
`backups/<id>.dump`); the `keep` newest are kept.

The connection's parameters go to pg_dump and pg_restore through libpq's environment
(PGHOST, PGPASSWORD, ...), never on a command line. Standard library and SQLAlchemy only.
"""

from __future__ import annotations

import importlib
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

SUFFIX = ".dump"


SCRATCH = "conveyor_verify_"  # + the epoch second it was made + a random part


def forgotten(conn: Any) -> None:
    """Drop the scratch copies an earlier run left (killed mid-verification or mid-rehearsal:
    a copy of the whole database) once they are an hour old and nobody uses them."""
    names = conn.exec_driver_sql(
        f"SELECT datname FROM pg_database d WHERE starts_with(datname, '{SCRATCH}') AND NOT "
        "EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)"
    ).scalars()
    for name in list(names):
        made = name[len(SCRATCH) :].split("_", 1)[0]
        if made.isdigit() and time.time() - int(made) > 3600:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}"')


class BackupFailed(Exception):
    """A backup could not be taken or verified; its message says why, for a person."""


class Rehearsal(Exception):
    """The pending migrations, rehearsed on the verified copy, failed or held a lock too
    long; its message says which, for a person."""


def libpq_env(url: Any, database: str | None = None) -> dict[str, str]:
    """The environment pg_dump/pg_restore need to reach `url`'s database (or `database`)."""
    env = dict(os.environ)
    for key, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", database or url.database),
        ("PGSSLMODE", url.query.get("sslmode")),
    ):
        if value is not None:
            env[key] = str(value)
    return env


def run(argv: list[str], env: dict[str, str]) -> str:
    """A client tool; BackupFailed with its own words when it fails."""
    if shutil.which(argv[0]) is None:
        raise BackupFailed(
            f"{argv[0]} is not installed on this host: install PostgreSQL's client "
            "(Debian: apt install postgresql-client), or turn [migrations] backup off"
        )
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-3:])
        raise BackupFailed(f"{argv[0]} failed (exit {done.returncode}): {tail}")
    return done.stdout


def tables_in(path: str, env: dict[str, str]) -> set[str]:
    """The tables whose data the dump holds (schema.name), from pg_restore --list."""
    listing = run(["pg_restore", "--list", path], env)
    found = set()
    for line in listing.splitlines():
        if line.startswith(";") or " TABLE DATA " not in line:
            continue
        words = line.split(" TABLE DATA ", 1)[1].split()
        if len(words) >= 2:
            found.add(f"{words[0]}.{words[1]}")
    return found


def count(conn: Any, table: str) -> int:
    """Rows in `table` (schema.name)."""
    schema, name = table.split(".", 1)
    return int(conn.exec_driver_sql(f'SELECT count(*) FROM "{schema}"."{name}"').scalar())


def sync_url(url: Any) -> Any:
    """`url` with a driver that works without an event loop (an async env.py's asyncpg URL
    becomes psycopg's or psycopg2's, whichever the release's venv has)."""
    if not url.get_dialect().is_async:
        return url
    query = {}
    if url.query.get("ssl") not in (None, "false", "disable"):  # asyncpg's word for it
        query["sslmode"] = (
            "require" if url.query["ssl"] in ("true", "require") else url.query["ssl"]
        )
    for driver in ("psycopg", "psycopg2"):
        try:
            importlib.import_module(driver)
        except ImportError:
            continue
        return url.set(drivername=f"postgresql+{driver}", query=query)
    raise BackupFailed(
        f"{url.drivername} is async, and the release's venv has neither psycopg nor "
        "psycopg2 for conveyor's own connections: add one to the project's requirements"
    )


def backup(
    connection: Any,
    directory: str,
    keep: int,
    label: str,
    rehearse: Callable[[Any], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Dump, check and keep the database `connection` is on; returns what it did.
    `rehearse`: run with the scratch database's URL once the dump is verified there, before
    it is dropped (the rehearsal of the pending migrations); its result is returned too."""
    from sqlalchemy import create_engine, text

    url = sync_url(connection.engine.url)
    if connection.dialect.name != "postgresql":
        raise BackupFailed(
            f"backups are for PostgreSQL; this database is {connection.dialect.name}: "
            "turn [migrations] backup off"
        )
    os.makedirs(directory, mode=0o700, exist_ok=True)
    size = connection.exec_driver_sql("SELECT pg_database_size(current_database())").scalar()
    free = shutil.disk_usage(directory).free
    if free < size:
        raise BackupFailed(
            f"{directory} has {free // 2**20} MiB free, and the database is "
            f"{size // 2**20} MiB: a dump may need as much; nothing was migrated"
        )
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    backup_id = f"{stamp}-{label or 'empty'}"
    final = os.path.join(directory, backup_id + SUFFIX)
    partial = final + ".partial"
    env = libpq_env(url)
    began = time.monotonic()
    try:
        run(["pg_dump", "--format=custom", "--no-owner", f"--file={partial}"], env)
        expected = tables_in(partial, env)
    except BackupFailed:
        if os.path.exists(partial):
            os.unlink(partial)
        raise
    dumped = time.monotonic() - began
    scratch = f"{SCRATCH}{int(time.time())}_{secrets.token_hex(3)}"
    admin = None
    try:
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            forgotten(conn)
            conn.exec_driver_sql(f'CREATE DATABASE "{scratch}"')
        try:
            run(
                ["pg_restore", "--no-owner", "--exit-on-error", f"--dbname={scratch}", partial], env
            )
            restored = create_engine(url.set(database=scratch))
            try:
                with restored.connect() as conn:
                    rows = conn.execute(
                        text("SELECT schemaname || '.' || relname FROM pg_stat_user_tables")
                    ).scalars()
                    found = set(rows)
                    counted = sum(count(conn, table) for table in sorted(found))
            finally:
                restored.dispose()
            missing = expected - found
            if missing:
                raise BackupFailed(
                    f"the restored dump lacks {', '.join(sorted(missing))}; nothing was migrated"
                )
            try:
                rehearsed = rehearse(url.set(database=scratch)) if rehearse is not None else {}
            except Rehearsal:
                raise
            except Exception as error:
                raise Rehearsal(f"the rehearsal could not run ({error})") from None
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
    except (BackupFailed, Rehearsal):
        os.unlink(partial)
        raise
    except Exception as error:
        os.unlink(partial)
        raise BackupFailed(
            f"the dump could not be verified by a restore into a scratch database ({error}); "
            "the role needs CREATEDB for that; nothing was migrated"
        ) from None
    finally:
        if admin is not None:
            admin.dispose()
    os.replace(partial, final)
    kept = sorted(n for n in os.listdir(directory) if n.endswith(SUFFIX))
    for old in kept[:-keep]:
        os.unlink(os.path.join(directory, old))
    return {
        "id": backup_id,
        "bytes": os.path.getsize(final),
        "tables": len(found),
        "rows": counted,
        "seconds": round(dumped, 2),
        "rehearsed": rehearsed,
    }


def restore(url: Any, directory: str, backup_id: str) -> None:
    """The database at `url`, as backup `backup_id` holds it, in one transaction (the caller
    holds the advisory lock, and no table): the tables the dump does not hold are dropped
    first (a table a later migration added, and what depends on it), then every object of
    the dump is dropped and restored (`pg_restore --clean` as SQL, run by psql)."""
    from sqlalchemy import create_engine

    path = os.path.join(directory, os.path.basename(backup_id) + SUFFIX)
    if not os.path.exists(path):
        raise BackupFailed(f"no backup {backup_id} in {directory}")
    env = libpq_env(url)
    keep = tables_in(path, env)
    url = sync_url(url)
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            live = set(
                conn.exec_driver_sql(
                    "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname "
                    "NOT IN ('pg_catalog', 'information_schema')"
                ).scalars()
            )
    finally:
        engine.dispose()
    drops = "".join(
        'DROP TABLE IF EXISTS "{}"."{}" CASCADE;\n'.format(*table.split(".", 1))
        for table in sorted(live - keep)
    )
    script = run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--file=-", path], env)
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as handle:
        os.chmod(handle.name, 0o600)
        handle.write(drops + script)
    try:
        run(
            ["psql", "--no-psqlrc", "--quiet", "--single-transaction", "--set=ON_ERROR_STOP=1",
             f"--file={handle.name}"],
            env,
        )  # fmt: skip
    finally:
        os.unlink(handle.name)
