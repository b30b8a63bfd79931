"""What the deploy engine says as it works: typed events, published on one bus.

An event is typed by `kind`: "step" (a plan step started, or finished with its
duration), "switched" (a host's traffic moved: service, port, colour), "probe"
(a health verdict), "undone" (an inverse from the undo journal), "dropped" (a
host `max_failures` let go), "skipped" (a host that already serves the release,
left as it is), or "note" (anything else, for a person). Its
`fields` carry the structured values; `message` is for a person only, and no
code decides anything by reading it. The terminal renderer and the history
writer subscribe to the `Bus`; a dashboard's live stream and notifications will.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["step", "switched", "probe", "undone", "dropped", "skipped", "note"]
Value = str | int | float | bool


@dataclass(frozen=True)
class Event:
    """Something the executor did or saw."""

    host: str | None
    step: str
    status: str  # "start", "ok", "fail", "info"
    message: str
    at: float = field(default_factory=time.time)
    kind: Kind = "note"
    seconds: float | None = None  # a finished step's duration
    fields: Mapping[str, Value] = field(default_factory=dict)


Emit = Callable[[Event], None]


class Bus:
    """Each event, published once, goes to every subscriber in the order they subscribed."""

    def __init__(self, *subscribers: Emit) -> None:
        self._subscribers = list(subscribers)

    def subscribe(self, subscriber: Emit) -> None:
        """Receive every event published from now on."""
        self._subscribers.append(subscriber)

    def __call__(self, event: Event) -> None:
        for subscriber in self._subscribers:
            subscriber(event)
