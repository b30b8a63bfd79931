"""The rollback's plan: pure code from the hosts' states to the steps `conveyor rollback` runs.

`conveyor rollback ENV --dry-run` prints it. It follows `deploy/rollback.py`'s order:
every host's previous web colour runs and answers first (warm: nothing to do; cold:
started and health-gated), then every host switches at once under a pending mark.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from conveyor.deploy.hostops import program_name
from conveyor.deploy.layout import listen_address, ports, services_by_kind, syncs_on
from conveyor.deploy.plan import Plan, Step
from conveyor.deploy.state import HostState
from conveyor.project.model import ConveyorConfig

BEFORE = "nothing switches: every host keeps serving its release"
DURING = "the hosts that went back go forward again: one release everywhere"
ON_FAILURE = (
    f"on failure before any host switches: {BEFORE}",
    f"on failure while hosts switch:        {DURING}",
    "a host that cannot be put right keeps a pending mark for conveyor recover",
)


@dataclass(frozen=True)
class BackView:
    """What the planner knows of a host: its state, and which previous web colours run."""

    spec: str
    state: HostState
    warm: Mapping[str, bool] = field(default_factory=dict)  # http service -> still running
    listen: Mapping[str, str] = field(default_factory=dict)  # the host's own Caddy addresses


def build_rollback_plan(
    config: ConveyorConfig,
    environment: str,
    roles: Mapping[str, Sequence[str]],
    hosts: Sequence[BackView],
) -> Plan:
    """Every step of a rollback of `hosts` to each one's previous release."""
    steps = [Step(h.spec, "connect", "connect, verify the host key") for h in hosts]
    steps += [Step(h.spec, "lock", f"take the {environment} deploy lock") for h in hosts]
    for host in hosts:
        steps += _ready(config, roles, host)
    for host in hosts:
        steps += _switch(config, roles, host)
    steps += [Step(h.spec, "unlock", "release the deploy lock") for h in hosts]
    targets = sorted({h.state.previous_version or h.state.previous_release or "" for h in hosts})
    header = f"plan: roll {environment} back to {', '.join(targets)} on {len(hosts)} host(s)"
    return Plan(environment, ", ".join(targets), tuple(steps), header=header, on_failure=ON_FAILURE)


def _ready(
    config: ConveyorConfig, roles: Mapping[str, Sequence[str]], host: BackView
) -> list[Step]:
    state = host.state
    assert state.previous_colour is not None and state.previous_release is not None
    colour, release = state.previous_colour, state.previous_release
    steps = []
    for name, service in services_by_kind(config, roles, host.spec).http.items():
        prog = program_name(name, colour)
        if host.warm.get(name):
            what = f"{prog} runs {release} (warm: nothing to start)"
        else:
            what = f"{prog} has gone cold: start it on {release}, probe {service.health} directly"
        steps.append(Step(host.spec, "ready", what, (), BEFORE))
    return steps


def _switch(
    config: ConveyorConfig, roles: Mapping[str, Sequence[str]], host: BackView
) -> list[Step]:
    state = host.state
    assert state.previous_colour is not None and state.previous_release is not None
    colour, release, away = state.previous_colour, state.previous_release, state.colour
    found = services_by_kind(config, roles, host.spec)
    steps = [Step(host.spec, "state", f"mark the switch to {release} pending in state.json")]
    for name, service in found.http.items():
        where = listen_address(service, host.listen.get(name))
        port = ports(config, name)[colour]
        steps.append(
            Step(host.spec, "switch", f"Caddy on {where} -> port {port} ({colour})", (), DURING)
        )
    for name, service in {**found.workers, **found.singletons}.items():
        new, old = program_name(name, colour), program_name(name, away) if away else None
        if service.resolved_kind == "singleton":
            if old:
                steps.append(
                    Step(host.spec, "stop", f"{old} (a singleton: one at a time)", (), DURING)
                )
            steps.append(Step(host.spec, "start", f"{new} on {release} (singleton)", (), DURING))
            continue
        steps.append(Step(host.spec, "start", f"{new} on {release}", (), DURING))
        if old:
            steps.append(Step(host.spec, "stop", f"{old}: graceful stop", (), DURING))
    for name, service in syncs_on(config, roles, host.spec).items():
        assert service.sync is not None
        copy = f"{name}: copy {service.sync.from_}/ of {release} to {service.sync.to}"
        steps.append(Step(host.spec, "sync", copy, (), DURING))
        if service.after is not None:
            steps.append(Step(host.spec, "after", f"{name}: {service.after}", (), DURING))
    record = f"record {release} on {colour} in state.json; current -> releases/{release}"
    steps.append(Step(host.spec, "state", record, (), DURING))
    return steps
