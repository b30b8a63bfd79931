"""What the history holds, as plain values: deploy records, their events, the commits a
deploy brought and check results.

Kept apart from the store so that reading them (the CLI, metrics) does not
load SQLAlchemy until a database is opened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

URL_VARIABLE = "CONVEYOR_HISTORY_URL"


@dataclass(frozen=True)
class DeployRecord:
    """One deploy or rollback as recorded."""

    id: str
    environment: str
    kind: str
    release: str
    version: str
    commit: str
    status: str
    user: str
    machine: str
    started_at: datetime
    finished_at: datetime | None
    message: str
    cause: str | None
    hosts: tuple[str, ...]
    hotfix: bool = False  # an unplanned deploy made because of an incident

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish, or None while running."""
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


# An event's structured value (`deploy/events.py` `Value`, which the history does not import).
Value = str | int | float | bool


@dataclass(frozen=True)
class DeployEvent:
    """One step of a deploy: when, where (None: the whole environment), what."""

    deploy_id: str
    at: datetime
    host: str | None
    kind: str
    message: str
    fields: dict[str, Value] = field(default_factory=dict)
    seconds: float | None = None  # a finished step's duration


@dataclass(frozen=True)
class Change:
    """One commit a deploy brought: its hash, committer time and author (for lead time)."""

    sha: str
    committed_at: datetime
    author: str  # "Name <email>" as git has it; "" when only the release's manifest knew it


@dataclass(frozen=True)
class CheckRecord:
    """One recorded `conveyor check` run: which commit, which checks configuration, its result."""

    id: int
    commit: str
    config: str  # `checks_digest`: sha256 of the validated [checks] section
    passed: bool
    started_at: datetime
    finished_at: datetime
    summary: str


def default_path(root: Path) -> Path:
    """Where a project's history lives unless $CONVEYOR_HISTORY_URL says otherwise."""
    return (root / ".conveyor" / "history.db").resolve()


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(timezone.utc)
