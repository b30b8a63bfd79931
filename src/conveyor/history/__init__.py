"""Deploy history: what was deployed where, by whom, how it ended; DORA metrics from it.

SQLite under `.conveyor/` by default, PostgreSQL by URL; the schema has its own
Alembic migrations in `migrations/`. Imports without typer or rich, and loads
SQLAlchemy only when the store is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conveyor.history.records import Change, CheckRecord, DeployEvent, DeployRecord
    from conveyor.history.store import HistoryStore

__all__ = ["Change", "CheckRecord", "DeployEvent", "DeployRecord", "HistoryStore"]


def __getattr__(name: str) -> Any:
    if name == "HistoryStore":
        from conveyor.history.store import HistoryStore

        return HistoryStore
    if name in ("Change", "CheckRecord", "DeployEvent", "DeployRecord"):
        from conveyor.history import records

        return getattr(records, name)
    raise AttributeError(name)
