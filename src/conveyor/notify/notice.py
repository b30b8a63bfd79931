"""What the outbox is given: a message about one subject, for some targets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from conveyor.project.environment import Event

EVENTS: tuple[str, ...] = get_args(Event)
# Apprise's notify types: how a service colours or marks the message.
LEVELS = ("info", "success", "warning", "failure")
# `conveyor notify test ENV`: not an event of conveyor.toml's `on`, sent to every target.
TEST_EVENT = "test"


@dataclass(frozen=True)
class Notice:
    """One message about `subject` (a deploy's id or an approval request's) to `targets`,
    each written as in conveyor.toml ($VARS unexpanded: they are expanded when sent)."""

    subject: str
    environment: str
    event: str  # one of EVENTS, or TEST_EVENT
    title: str
    body: str
    targets: tuple[str, ...]
    level: str = "info"

    def __post_init__(self) -> None:
        if self.event not in (*EVENTS, TEST_EVENT):
            raise ValueError(f"unknown notification event {self.event!r}")
        if self.level not in LEVELS:
            raise ValueError(f"unknown notification level {self.level!r}")
        if not self.subject or len(self.subject) > 64:
            raise ValueError(f"a notice's subject must be 1 to 64 characters: {self.subject!r}")
