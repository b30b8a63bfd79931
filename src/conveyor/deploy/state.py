"""What runs on a host, as the host's own `state.json` records it.

The state file is the one source of truth for a host: written atomically
before and after each switch, read back by `status` and by recovery.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from conveyor.errors import ConveyorError

Colour = Literal["blue", "green"]
COLOURS: tuple[Colour, Colour] = ("blue", "green")
STATE_VERSION = 1


@dataclass(frozen=True)
class HostState:
    """The live release and colour of one host, and the warm one behind it."""

    release: str | None = None
    version: str | None = None
    colour: Colour | None = None
    previous_release: str | None = None
    previous_version: str | None = None
    previous_colour: Colour | None = None
    # Set while a deploy is between "started the new colour" and "switched"; cleared after.
    pending_release: str | None = None
    deploy_id: str | None = None
    switched_at: float | None = None
    ports: dict[str, dict[str, int]] = field(default_factory=dict)  # service -> colour -> port
    venv: str | None = None  # venv key of the live release
    previous_venv: str | None = None
    # The previous colour keeps running until then (epoch seconds); None once it is stopped.
    warm_until: float | None = None
    # Set by `conveyor stop` (epoch seconds): nothing runs here on purpose; cleared by `start`.
    stopped_at: float | None = None

    @property
    def idle_colour(self) -> Colour:
        """The colour a new release starts on: the one not serving."""
        return "green" if self.colour == "blue" else "blue"

    def switched(
        self, release: str, *, version: str, venv: str, at: float, deploy_id: str, warm_for: float
    ) -> HostState:
        """The state after traffic moved to `release` on the idle colour."""
        return replace(
            self,
            release=release,
            version=version,
            previous_version=self.version,
            colour=self.idle_colour,
            venv=venv,
            previous_release=self.release,
            previous_colour=self.colour,
            previous_venv=self.venv,
            pending_release=None,
            deploy_id=deploy_id,
            switched_at=at,
            # After `conveyor stop` the colour it leaves is not running: nothing stays warm.
            warm_until=at + warm_for if self.release and self.stopped_at is None else None,
            stopped_at=None,  # it serves again
        )

    def rolled_back(self, *, at: float) -> HostState:
        """The state after traffic went back to the warm previous colour."""
        if self.previous_release is None or self.previous_colour is None:
            raise ConveyorError("there is no previous release on this host to go back to")
        return replace(
            self,
            release=self.previous_release,
            version=self.previous_version,
            previous_version=self.version,
            colour=self.previous_colour,
            venv=self.previous_venv,
            previous_release=self.release,
            previous_colour=self.colour,
            previous_venv=self.venv,
            pending_release=None,
            switched_at=at,
            stopped_at=None,
        )


def dumps(state: HostState) -> str:
    """The file's text: stable key order, so two equal states are equal files."""
    return json.dumps({**asdict(state), "format": STATE_VERSION}, indent=2, sort_keys=True) + "\n"


def loads(text: str, *, where: str) -> HostState:
    """Parse a state file; a damaged one is an error naming where it lives."""
    try:
        data = json.loads(text)
        if not isinstance(data, dict) or data.pop("format", None) != STATE_VERSION:
            raise ValueError(f"expected format {STATE_VERSION}")
        state = HostState(**data)
    except (ValueError, TypeError) as error:
        raise ConveyorError(
            f"{where}: the host's state file is damaged ({error})",
            hint="nothing was changed; run conveyor status to see what the host runs",
        ) from None
    if state.colour not in (None, *COLOURS) or state.previous_colour not in (None, *COLOURS):
        raise ConveyorError(f"{where}: the host's state file names an unknown colour")
    return state
