"""Alembic environment of the history schema: runs on the connection the store hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from conveyor.history.migrate import VERSION_TABLE
from conveyor.history.models import Base


def run() -> None:
    """Upgrade on `config.attributes["connection"]`, inside the caller's transaction."""
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("history migrations run through conveyor.history.migrate.upgrade()")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # Its own version table: the database may also hold the app's alembic_version.
        version_table=VERSION_TABLE,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
