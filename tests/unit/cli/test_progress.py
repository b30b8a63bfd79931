"""Deploy events on the terminal: durations per step, a ticker only on a TTY (pure logic)."""

from __future__ import annotations

import io
import time

import pytest
from rich.console import Console

from conveyor.cli.progress import Progress, seconds
from conveyor.deploy.events import Event


def render(events: list[Event], *, terminal: bool = False) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=terminal, width=100, soft_wrap=True)
    progress = Progress(console)
    for event in events:
        progress(event)
    progress.close()
    return buffer.getvalue()


def test_each_finished_step_says_how_long_it_took() -> None:
    text = render(
        [
            Event(None, "venv", "start", "venv on 2 host(s)", at=100.0),
            Event("app-1", "venv", "ok", "built", at=115.2),
            Event("app-2", "venv", "ok", "reused", at=100.4),
            Event("app-1", "start", "start", "starting web-blue on port 8000", at=116.0),
            Event("app-1", "health", "ok", "web-blue: 3 healthy answers in a row", at=117.5),
            Event(None, "release", "start", "release command: ./prestart", at=118.0),
            Event("app-1", "release", "ok", "release command done (3.1s)", at=121.1),
            Event(None, "batch", "info", "batch 1: app-1", at=122.0),
            Event(None, "deploy", "ok", "staging now runs 1.2.0 on 2 host(s)", at=130.0),
        ]
    )
    assert text.splitlines() == [
        "*                     venv     venv on 2 host(s)",
        "app-1                 venv     built (15.2s)",
        "app-2                 venv     reused (0.4s)",
        "app-1                 start    starting web-blue on port 8000",
        "app-1                 health   web-blue: 3 healthy answers in a row (1.5s)",
        "*                     release  release command: ./prestart",
        "app-1                 release  release command done (3.1s)",
        "*                     batch    batch 1: app-1",
    ]  # the deploy's outcome is the command's summary line, not an event line
    assert "\x1b[" not in text  # plain text in a pipe


def test_a_terminal_gets_colours_and_a_running_line() -> None:
    buffer = io.StringIO()
    progress = Progress(Console(file=buffer, force_terminal=True, width=100))
    progress(Event(None, "venv", "start", "venv on 1 host(s)", at=time.time() - 12.0))
    progress.close()
    assert "\x1b[" in buffer.getvalue()
    assert "running: all: venv 12.0s" in buffer.getvalue()


def test_no_color_gets_plain_lines_on_a_terminal_too(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: a terminal
    monkeypatch.setenv("NO_COLOR", "1")
    progress = Progress()
    progress(Event(None, "venv", "start", "venv on 1 host(s)", at=time.time()))
    progress(Event("app-1", "venv", "ok", "built", at=time.time()))
    progress.close()
    assert capsys.readouterr().out.splitlines() == [
        "*                     venv     venv on 1 host(s)",
        "app-1                 venv     built (0.0s)",
    ]


def test_durations_read_like_a_person_would_write_them() -> None:
    assert [seconds(s) for s in (0.04, 12.34, 59.9, 125.0)] == ["0.0s", "12.3s", "59.9s", "2m05s"]
