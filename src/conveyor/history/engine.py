"""Engines for the history store: SQLite set up for several writers, or PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from conveyor.errors import ConveyorError
from conveyor.history.migrate import upgrade

MAX_TEXT = 4000
# A second conveyor process (a deploy of another environment) waits this long for a write.
BUSY_TIMEOUT_S = 30.0


def open_engine(url: str) -> tuple[Engine, str]:
    """An engine on `url` with the schema at head, and the URL to show (password hidden)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ConveyorError(
            f"cannot read history database URL {url!r}",
            hint='expected "sqlite:////abs/path.db" or "postgresql+psycopg://user@host/db"',
        ) from None
    shown = parsed.render_as_string(hide_password=True)
    try:
        if parsed.get_backend_name() == "sqlite":
            engine = create_engine(parsed, connect_args={"timeout": BUSY_TIMEOUT_S})
            event.listen(engine, "connect", _sqlite_connect)
            event.listen(engine, "begin", _sqlite_begin)
        else:
            engine = create_engine(parsed, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        raise ConveyorError(f"cannot use history database {shown}: {error}") from None
    try:
        upgrade(engine, shown=shown)
    except OperationalError as error:
        engine.dispose()
        raise ConveyorError(
            f"cannot open history database {shown}: {str(error.orig).strip()}",
            hint="check the path or the server, or set CONVEYOR_HISTORY_URL; nothing was recorded",
        ) from None
    except BaseException:
        engine.dispose()
        raise
    return engine, shown


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own implicit BEGIN is deferred, so a read-then-write transaction can fail
    # with "database is locked" without waiting; _sqlite_begin takes the write lock up front.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL: readers (conveyor history) never block the writer of a running deploy.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def trim(text: str) -> str:
    """`text` cut to MAX_TEXT characters, keeping its head and tail (where errors say why)."""
    if len(text) <= MAX_TEXT:
        return text
    # The marker shows how many characters it replaces, so its length depends on that count.
    trimmed = len(text) - MAX_TEXT
    while True:
        marker = f"\n... [{trimmed} characters trimmed] ...\n"
        if len(text) - (MAX_TEXT - len(marker)) == trimmed:
            break
        trimmed = len(text) - (MAX_TEXT - len(marker))
    kept = MAX_TEXT - len(marker)
    head = kept // 2
    return text[:head] + marker + text[len(text) - (kept - head) :]
