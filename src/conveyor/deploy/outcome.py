"""How a deploy ended, and the rules that decide when failures end it for every host."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conveyor.deploy.plan import Plan, Step
from conveyor.deploy.state import HostState


@dataclass(frozen=True)
class Release:
    """What is deployed: the release directory built by `conveyor build`."""

    id: str
    version: str
    path: Path
    venv_key: str


@dataclass(frozen=True)
class Outcome:
    """How the deploy ended; `message` says what happened and what serves now."""

    status: str  # "succeeded", "failed", "rolled_back"
    message: str
    cause: str | None = None
    hint: str | None = None  # what the user can do about the failure
    states: dict[str, HostState] = field(default_factory=dict)
    # Hosts that failed and were left on their previous release (within max_failures): why.
    left_out: dict[str, str] = field(default_factory=dict)
    plan: Plan | None = None  # the plan it ran
    ran: tuple[Step, ...] = ()  # the steps carried out, in the order they finished


def stops_deploy(failed: int, left: int, max_failures: int) -> bool:
    """The deploy's failure rule, which its dry run applies too: more hosts failed than
    `max_failures` allows, or none would be left."""
    return failed > max_failures or left == 0


class RecoverFirst(Exception):
    """The locked hosts show what an interrupted deploy left: recover it, then deploy again."""


def undone(
    environment: str,
    serving: Mapping[str, HostState],
    *,
    restored: bool,
    runs: bool,
    lost: Sequence[str],
) -> str:
    """What serves after a failed deploy was undone: `serving` is what the hosts put back
    served before, `restored` whether any traffic went back, `runs` whether any host had
    started the release, `lost` the hosts that could not be put back."""
    previous = {state.release for state in serving.values() if state.release}
    if restored:
        what = f"traffic is back on {', '.join(sorted(previous))}"
    elif previous or not runs:
        what = "traffic never left the release that was serving"
    else:
        what = "nothing served before this deploy and nothing serves now"
    if lost:
        what += (
            f"; {', '.join(lost)} not put back (unreachable or a step failed, see above): "
            f"run conveyor recover {environment} once it is reachable"
        )
    return what


async def first_failures(tasks: Sequence[asyncio.Future[None]], *, allowed: int) -> None:
    """Wait for `tasks`; once more than `allowed` of them failed, cancel the rest."""
    pending: set[asyncio.Future[None]] = set(tasks)
    while pending:
        _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
        failures = sum(1 for t in tasks if t.done() and not t.cancelled() and t.exception())
        if failures > allowed:
            break
    for task in pending:
        task.cancel()
