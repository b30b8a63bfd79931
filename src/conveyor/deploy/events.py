"""What the deploy engine says as it works: events that renderers and the history store read."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Event:
    """Something the executor did or saw; renderers and the history store subscribe."""

    host: str | None
    step: str
    status: str  # "start", "ok", "fail", "info"
    message: str
    at: float = field(default_factory=time.time)


Emit = Callable[[Event], None]
