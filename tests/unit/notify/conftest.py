"""Fixtures: a project's config with notify targets, a history store that enqueues its
notifications, a clock the test moves and a sleeper that moves it, and a local receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conveyor.history.store import HistoryStore
from conveyor.notify.notices import announcer
from conveyor.project.load import load_config_file
from conveyor.project.model import ConveyorConfig
from tests.unit.history.conftest import Clock
from tests.unit.notify.receiver import Receiver, receiving

APP = '[app]\nname = "shop"\n[services.web]\ncommand = "serve"\nroles = ["app"]\n'
PRODUCTION = '[environments.production]\nhosts = { app = ["local"] }\n'


def config_of(tmp_path: Path, notify: str, environments: str = PRODUCTION) -> ConveyorConfig:
    """A conveyor.toml with `notify` (TOML for the [notify] table) and `environments`."""
    path = tmp_path / "conveyor.toml"
    path.write_text(APP + "[notify]\n" + notify + "\n" + environments)
    return load_config_file(path).config


@pytest.fixture
def clock() -> Clock:
    """The store's and the sender's clock."""
    return Clock()


class Sleeper:
    """Moves the clock instead of waiting; `then` runs after each sleep (a scripted change)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.slept: list[float] = []
        self.then: Callable[[int], None] = lambda count: None

    def __call__(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.clock.advance(seconds)
        self.then(len(self.slept))


@pytest.fixture
def sleeper(clock: Clock) -> Sleeper:
    return Sleeper(clock)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 answering 200 unless scripted otherwise."""
    with receiving() as started:
        yield started


def open_store(tmp_path: Path, clock: Clock, config: ConveyorConfig | None = None) -> HistoryStore:
    """A store at tmp_path/history.db that enqueues `config`'s notifications."""
    announce = announcer(config) if config is not None else None
    return HistoryStore(f"sqlite:///{tmp_path / 'history.db'}", clock=clock, announce=announce)


def record(store: HistoryStore, environment: str = "production", **fields: object) -> str:
    """Start a deploy record with sensible values; `fields` override them."""
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
