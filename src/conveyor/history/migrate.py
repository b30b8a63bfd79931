"""Bring a history database to the newest schema with the package's own Alembic scripts.

No alembic.ini: the configuration is built here. To write a new revision, from the
repository root: `python -c "from conveyor.history.migrate import revision; revision('what')"`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from conveyor.errors import ConveyorError

SCRIPTS = Path(__file__).parent / "migrations"
VERSION_TABLE = "conveyor_history_version"
# Any fixed number: two processes opening a fresh PostgreSQL database migrate one at a time.
_PG_LOCK_KEY = 0x636F6E76


def config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for the history scripts, optionally bound to a connection."""
    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPTS))
    cfg.set_main_option("path_separator", "os")
    # Revision files must be importable module names: mypy checks them with the package.
    cfg.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision the installed conveyor knows."""
    revision = ScriptDirectory.from_config(config()).get_current_head()
    assert revision is not None
    return revision


def current(connection: Connection) -> str | None:
    """The revision the database is at, or None before the first migration."""
    return MigrationContext.configure(
        connection, opts={"version_table": VERSION_TABLE}
    ).get_current_revision()


def upgrade(engine: Engine, *, shown: str) -> None:
    """Run pending migrations in one transaction; `shown` names the database in errors.

    On SQLite, foreign keys are off while they run: a batch migration copies a table and
    drops the old one, and with foreign keys on, that drop would first delete every row
    referring to it (the events of every deploy, ON DELETE CASCADE)."""
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        raw = connection.connection.dbapi_connection
        assert raw is not None
        if sqlite:  # outside a transaction, or SQLite ignores it
            raw.execute("PRAGMA foreign_keys=OFF")
        try:
            # On SQLite, BEGIN IMMEDIATE makes a second process wait here, then see head.
            with connection.begin():
                _upgrade(connection, shown)
        finally:
            if sqlite:
                raw.execute("PRAGMA foreign_keys=ON")


def _upgrade(connection: Connection, shown: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    at = current(connection)
    if at == head():
        return
    try:
        command.upgrade(config(connection), "head")
    except CommandError as error:
        raise ConveyorError(
            f"history database {shown} is at schema revision {at}, "
            f"which this conveyor does not know ({error})",
            hint="it was written by a newer conveyor; upgrade conveyor, nothing was changed",
        ) from None
    if connection.dialect.name == "sqlite":
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:  # pragma: no cover - a migration that breaks its own references
            raise ConveyorError(f"history database {shown}: a migration broke {broken[:3]}")


def revision(message: str) -> None:
    """Write a new revision script from the difference between the models and a scratch db."""
    from sqlalchemy import create_engine

    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        command.upgrade(config(connection), "head")
        command.revision(config(connection), message=message, autogenerate=True)
