"""Deploy history: what was deployed where, by whom, how it ended; DORA metrics from it.

SQLite under `.conveyor/` by default, PostgreSQL by URL; the schema has its own
Alembic migrations in `migrations/`. Imports without typer or rich.
"""

from __future__ import annotations

from conveyor.history.store import DeployEvent, DeployRecord, HistoryStore

__all__ = ["DeployEvent", "DeployRecord", "HistoryStore"]
