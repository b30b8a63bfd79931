"""What an interrupted deploy left on the hosts, and which way recovery goes: pure decisions.

What an interrupted deploy leaves is read from the hosts: a stale lock (its
owner stopped heartbeating, or its pid is dead on this machine), a state.json
with `pending_release` (written just before a switch), or hosts that disagree on
the release where the odd ones carry a deploy the local history still calls
running. The decision is per environment, as the hosts' journal says: FORWARD
only when every host that deploy meant to change already serves the new release
and answers through Caddy now; otherwise BACK, every host to what it served
before. `conveyor.deploy.recover` acts on these decisions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from conveyor.deploy.lock import LockInfo, LockOwner, ago
from conveyor.deploy.state import HostState
from conveyor.errors import ConveyorError
from conveyor.history.records import DeployEvent

if TYPE_CHECKING:
    from conveyor.history.store import HistoryStore

Direction = Literal["forward", "back"]


@dataclass(frozen=True)
class Seen:
    """One host as recovery finds it: its state file and its lock (None: not locked)."""

    host: str
    state: HostState
    lock: LockInfo | None = None


@dataclass(frozen=True)
class Interrupted:
    """The deploy that stopped half way, and what it left where."""

    deploy_id: str | None  # None: a stale lock without an owner record
    owner: LockOwner | None
    age: float | None  # seconds since its last heartbeat, when a lock remains
    release: str | None  # the release it was deploying, when the hosts or history say
    targeted: tuple[str, ...]  # hosts it locked or changed: those to make consistent
    pending: tuple[str, ...] = ()  # hosts between "about to switch" and "switched"
    switched: tuple[str, ...] = ()  # hosts that record the new release
    stale_locks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Recovered:
    """What recovery did: the direction, the release each host now serves, what failed."""

    environment: str
    recover_id: str | None
    interrupted: Interrupted | None
    direction: Direction | None
    serving: dict[str, str] = field(default_factory=dict)  # host -> release (or "nothing")
    failed: dict[str, str] = field(default_factory=dict)  # host -> why
    message: str = ""


def live_locks(seen: Sequence[Seen]) -> list[Seen]:
    """Hosts whose lock belongs to a deploy that is still running."""
    return [s for s in seen if s.lock is not None and not s.lock.stale]


def find_interrupted(
    seen: Sequence[Seen],
    *,
    unfinished: Callable[[str], bool] = lambda deploy_id: False,
    planned: Mapping[str, Sequence[str]] | None = None,
) -> Interrupted | None:
    """The interrupted deploy the hosts show, or None; call only when no lock is live.

    `unfinished(id)` says the local history still records deploy `id` as running;
    `planned` maps a deploy id to the hosts its history record names.
    """
    stale = [s for s in seen if s.lock is not None and s.lock.stale]
    pending = [s for s in seen if s.state.pending_release is not None]
    candidates = [s.lock.owner.deploy_id for s in stale if s.lock and s.lock.owner]
    candidates += [s.state.deploy_id for s in pending if s.state.deploy_id]
    candidates += _odd_deploys(seen, unfinished)
    if not stale and not pending and not candidates:
        return None
    deploy_id = candidates[0] if candidates else None
    owner = next((s.lock.owner for s in stale if s.lock and s.lock.owner), None)
    ages = [s.lock.age for s in stale if s.lock]
    release = next(
        (s.state.pending_release for s in pending if s.state.deploy_id == deploy_id), None
    )
    ours = [s for s in seen if deploy_id and s.state.deploy_id == deploy_id]
    switched = [s for s in ours if s.state.pending_release is None]
    if release is None and switched:
        release = switched[0].state.release
    targeted = {s.host for s in stale} | {s.host for s in pending} | {s.host for s in ours}
    known = {s.host for s in seen}
    targeted |= set((planned or {}).get(deploy_id or "", ())) & known
    order = [s.host for s in seen]
    return Interrupted(
        deploy_id=deploy_id,
        owner=owner,
        age=min(ages) if ages else None,
        release=release,
        targeted=tuple(h for h in order if h in targeted),
        pending=tuple(s.host for s in pending),
        switched=tuple(s.host for s in switched if s.state.release == release),
        stale_locks=tuple(s.host for s in stale),
    )


def _odd_deploys(seen: Sequence[Seen], unfinished: Callable[[str], bool]) -> list[str]:
    """Deploy ids carried by only some hosts, on a release the others do not run."""
    releases = {s.state.release for s in seen if s.state.release}
    if len(releases) < 2:
        return []
    ids = [s.state.deploy_id for s in seen if s.state.deploy_id]
    odd = [d for d in dict.fromkeys(ids) if ids.count(d) < len(seen)]
    return [d for d in odd if unfinished(d)]


def decide(
    interrupted: Interrupted, seen: Sequence[Seen], healthy: Mapping[str, bool]
) -> Direction:
    """FORWARD only when every targeted host serves the new release, nothing pending, and its
    new colour answers through Caddy now; BACK otherwise."""
    by_host = {s.host: s.state for s in seen}
    if interrupted.release is None or interrupted.deploy_id is None:
        return "back"
    for host in interrupted.targeted:
        state = by_host[host]
        done = (
            state.pending_release is None
            and state.deploy_id == interrupted.deploy_id
            and state.release == interrupted.release
        )
        if not done or not healthy.get(host, False):
            return "back"
    return "forward"


def all_switched(interrupted: Interrupted) -> bool:
    """True when every targeted host records the new release (then health decides)."""
    return bool(interrupted.release) and set(interrupted.targeted) <= set(interrupted.switched)


_RELEASE_LINE = re.compile(r'CONVEYOR_RELEASE="([^"]*)"')


def program_release(definition: str) -> str | None:
    """The release a supervisor program definition runs (its CONVEYOR_RELEASE), or None."""
    found = _RELEASE_LINE.search(definition)
    return found.group(1) if found else None


def should_stop_idle(
    runs: str | None, *, interrupted_release: str | None, keep: Collection[str | None]
) -> bool:
    """Whether an idle-colour program running `runs` belongs to the interrupted deploy.

    Never one in `keep`: what serves now and the warm previous release (a rollback's target).
    """
    if runs is None or runs in keep:
        return False
    return interrupted_release is None or runs == interrupted_release


def pending_cleared(state: HostState) -> HostState:
    """A pending host's state once it serves what it served before the switch began."""
    return replace(state, pending_release=None)


def describe(interrupted: Interrupted, environment: str) -> str:
    """`interrupted deploy d-12 (alice on laptop, pid 123, last heartbeat 3 min ago): run ...`."""
    who = []
    if interrupted.owner:
        owner = interrupted.owner
        who.append(f"{owner.user} on {owner.machine}, pid {owner.pid}")
    if interrupted.age is not None:
        who.append(f"last heartbeat {ago(interrupted.age)}")
    if interrupted.pending:
        who.append(f"switch pending on {', '.join(interrupted.pending)}")
    detail = f" ({', '.join(who)})" if who else ""
    name = interrupted.deploy_id or "(unknown id)"
    return f"interrupted deploy {name}{detail}: run conveyor recover {environment}"


def summary(serving: Mapping[str, str]) -> str:
    """`every host serves r-1` or `a serves r-1, b serves r-2`."""
    releases = set(serving.values())
    if len(releases) == 1 and len(serving) > 1:
        return f"every host serves {releases.pop()}"
    return ", ".join(f"{host} serves {release}" for host, release in serving.items())


def running_step(events: Sequence[DeployEvent]) -> str | None:
    """What a deploy was doing when it stopped, from its recorded events: `during stop on
    app-1` (a host, or the whole environment, whose last event is a step's start), else
    `after watch` (its last event)."""
    last: dict[str | None, int] = {}  # each host's (None: the environment's) newest event
    for number, event in enumerate(events):
        last[event.host] = number
    running = [n for n in last.values() if events[n].kind.endswith(":start")]
    if running:
        event, when = events[max(running)], "during"
    elif events:
        event, when = events[-1], "after"
    else:
        return None
    step = event.kind.partition(":")[0]
    return f"{when} {step} on {event.host}" if event.host else f"{when} {step}"


def interrupted_message(step: str | None, recover_id: str) -> str:
    """What the interrupted deploy's own record says once recovery has finished it."""
    when = step or "during its start (no step recorded)"
    return f"interrupted: conveyor stopped {when}; recovered by {recover_id}"


def interrupted_in(seen: Sequence[Seen], history: HistoryStore) -> Interrupted | None:
    """The interrupted deploy the hosts show, its record read from the history: a deploy is
    unfinished while its record says "running"."""

    def record(deploy_id: str) -> tuple[str, tuple[str, ...]] | None:
        try:
            found = history.get(deploy_id)
        except ConveyorError:
            return None
        return found.status, found.hosts

    def unfinished(deploy_id: str) -> bool:
        found = record(deploy_id)
        return found is not None and found[0] == "running"

    first = find_interrupted(seen, unfinished=unfinished)
    if first is None or first.deploy_id is None:
        return first
    known = record(first.deploy_id)
    planned = {first.deploy_id: known[1]} if known else {}
    return find_interrupted(seen, unfinished=unfinished, planned=planned)


def interrupted_check(root: Path) -> Callable[[Mapping[str, HostState]], bool]:
    """Whether the hosts' states, read under a deploy's own locks (so no lock is stale),
    show what an interrupted deploy left; the project's history (at `root`) is read only
    when a state is pending or some hosts run another release than the rest."""

    def check(states: Mapping[str, HostState]) -> bool:
        seen = [Seen(host, state) for host, state in states.items()]
        if find_interrupted(seen, unfinished=lambda _: True) is None:
            return False
        from conveyor.history.store import HistoryStore

        with HistoryStore.for_project(root) as history:
            return interrupted_in(seen, history) is not None

    return check


def finish_interrupted(store: HistoryStore, interrupted: Interrupted, recover_id: str) -> None:
    """The interrupted deploy's own record, still "running" here, is finished as failed."""
    if interrupted.deploy_id is None:
        return
    try:
        record = store.get(interrupted.deploy_id)
    except ConveyorError:
        return  # started on another machine: its record is in that machine's history
    if record.status != "running":
        return
    store.finish(
        record.id,
        status="failed",
        message=interrupted_message(running_step(store.events(record.id)), recover_id),
    )
