"""Deploy events on the terminal: one line each with the step's duration, a ticker on a TTY."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from rich.console import Console
from rich.status import Status
from rich.text import Text

from conveyor.cli.output import out

if TYPE_CHECKING:
    from conveyor.deploy.events import Event

_STYLE = {"ok": "green", "fail": "red", "start": "cyan", "info": "", "warn": "yellow"}
# A message that already ends with its own duration ("release command done (3.1s)").
_TIMED = re.compile(r"\(\d+(\.\d+)?s\)$")
# The command's own summary line says how the whole thing ended; the event would repeat it.
_OUTCOME_STEPS = frozenset({"deploy"})


def seconds(value: float) -> str:
    """A duration as a person reads it: 0.4s, 12.3s, 2m05s."""
    if value < 60:
        return f"{value:.1f}s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes}m{rest:02d}s"


class Progress:
    """Renders events as they come; `elapsed()` is the whole command's time so far.

    A finishing line gets the time since its step started on that host (else since the
    step started on all hosts, else since the host's last start). On a terminal, a status
    line below the output names the steps still running and their time; in a pipe or
    with NO_COLOR (rich's own rules) the output is plain lines only.
    """

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or out()
        self.begin = time.monotonic()
        self._started: dict[tuple[str | None, str], float] = {}
        self._last: dict[str | None, float] = {}
        self._running: dict[tuple[str | None, str], tuple[float, str]] = {}
        self._status: Status | None = None
        console = self.console
        if console.is_terminal and not console.is_dumb_terminal and not console.no_color:
            self._status = Status(_Running(self._running), console=console)

    def __call__(self, event: Event) -> None:
        """Print one event; a plan step's start and finish are not printed, they time the
        lines its operation prints and name what runs in the status line."""
        key = (event.host, event.step)
        if event.kind == "step":
            if event.status == "start":
                self._started[key] = event.at
                self._running[key] = (event.at, f"{event.host or 'all'}: {event.step}")
            else:
                self._running.pop(key, None)
            self._tick()
            return
        took = None
        if event.status == "start":
            self._started[key] = event.at
            self._last[event.host] = event.at
            self._running[key] = (event.at, f"{event.host or 'all'}: {event.step}")
        elif event.status in ("ok", "fail"):
            since = self._started.get(key) or self._started.get((None, event.step))
            since = since or self._last.get(event.host)
            took = None if since is None else max(0.0, event.at - since)
            self._running.pop(key, None)
            if event.host is not None:
                self._running.pop((None, event.step), None)
        if event.step in _OUTCOME_STEPS and event.host is None and event.status != "start":
            self._tick()
            return
        line = Text.assemble(
            (f"{event.host or '*':<22}", "bold"),
            (f"{event.step:<9}", _STYLE.get(event.status, "")),
            event.message,
        )
        if took is not None and not _TIMED.search(event.message):
            line.append(f" ({seconds(took)})", "dim")
        self.console.print(line)
        self._tick()

    def elapsed(self) -> str:
        """The command's time so far, for its summary line."""
        return seconds(time.monotonic() - self.begin)

    def close(self) -> None:
        """Take the status line away (before the summary is printed)."""
        if self._status is not None:
            self._status.stop()

    def _tick(self) -> None:
        if self._status is None:
            return
        if self._running:
            self._status.start()  # a no-op while it shows
        else:
            self._status.stop()


class _Running:
    """The status line's text, computed at each refresh so the times keep counting."""

    def __init__(self, running: dict[tuple[str | None, str], tuple[float, str]]) -> None:
        self.running = running

    def __rich__(self) -> Text:
        now = time.time()
        parts = [f"{what} {seconds(now - at)}" for at, what in list(self.running.values())]
        return Text("running: " + ", ".join(parts), "cyan")
