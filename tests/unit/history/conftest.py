"""Fixtures: a history store on SQLite in tmp_path with a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from conveyor.history import HistoryStore

T0 = datetime(2026, 11, 23, 15, 1, 2, tzinfo=timezone.utc)


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        """Move forward and return the new time."""
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> Clock:
    """The store's clock, at T0."""
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[HistoryStore]:
    """A fresh store at tmp_path/history.db."""
    opened = HistoryStore(f"sqlite:///{tmp_path / 'history.db'}", clock=clock)
    yield opened
    opened.close()


def deploy(store: HistoryStore, environment: str = "production", **fields: object) -> str:
    """Start a deploy with sensible defaults; `fields` override them."""
    values: dict[str, object] = {
        "environment": environment,
        "kind": "deploy",
        "release": "r-2026-1",
        "version": "1.4.0",
        "commit": "3f2a9c1",
        "hosts": ["deploy@app-1", "deploy@app-2"],
        "user": "alice",
        "machine": "laptop",
    }
    values.update(fields)
    return store.start(**values)  # type: ignore[arg-type]
