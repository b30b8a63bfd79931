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
    """Run pending migrations in one transaction; `shown` names the database in errors."""
    # On SQLite the store's BEGIN IMMEDIATE makes a second process wait here, then see head.
    with engine.begin() as connection:
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


def revision(message: str) -> None:
    """Write a new revision script from the difference between the models and a scratch db."""
    from sqlalchemy import create_engine

    engine = create_engine("sqlite://")
    with engine.begin() as connection:
        command.upgrade(config(connection), "head")
        command.revision(config(connection), message=message, autogenerate=True)
