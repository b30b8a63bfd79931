"""The rollback's plan: pure code from the hosts' states to the steps `conveyor rollback` runs.

Each step carries a typed `Op`; `deploy/rollback.py` interprets them in the plan's
order and decides nothing about it: every host's "ready" steps first (its previous
web colour runs and answers: warm, nothing to do; cold, started and gated), then
every host's switch steps at once (or `--batch N` hosts at a time, one batch after
another) under a pending mark. Putting a host forward
again after a failed rollback is the same planner given the other desired state
(what the host served before), so there is one way to make a host serve a release.
`conveyor rollback ENV --dry-run` prints the plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from conveyor.deploy.plan import Op, Plan, Step
from conveyor.deploy.serve import BEFORE, DURING, Serve, host_steps, retire_steps, unlock_step
from conveyor.deploy.state import HostState
from conveyor.project.model import ConveyorConfig

T = TypeVar("T")

ON_FAILURE = (
    f"on failure before any host switches: {BEFORE}",
    f"on failure while hosts switch:        {DURING}",
    "a host that cannot be put right keeps the rollback's record running for conveyor recover",
)


@dataclass(frozen=True)
class BackView:
    """What the planner knows of a host: its state, and which previous web colours run."""

    spec: str
    state: HostState
    # http service -> still running; None: not looked at (the run itself finds out).
    warm: Mapping[str, bool] | None = None
    listen: Mapping[str, str] = field(default_factory=dict)  # the host's own Caddy addresses


def batches(hosts: Sequence[T], batch: int) -> list[list[T]]:
    """`hosts` in batches of `batch` (0: one batch of every host)."""
    size = batch if 0 < batch < len(hosts) else max(1, len(hosts))
    return [list(hosts[i : i + size]) for i in range(0, len(hosts), size)]


def build_rollback_plan(
    config: ConveyorConfig,
    environment: str,
    roles: Mapping[str, Sequence[str]],
    hosts: Sequence[BackView],
    *,
    keep_warm: float = 900.0,
    batch: int = 0,
) -> Plan:
    """Every step of a rollback of `hosts` to each one's previous release; `batch` hosts
    switch at a time, one batch after another (0: every host at once)."""
    steps = [Step(h.spec, "connect", "connect, verify the host key") for h in hosts]
    in_order = sorted(hosts, key=lambda h: h.spec)  # the order the locks are taken in
    steps += [Step(h.spec, "lock", f"take the {environment} deploy lock") for h in in_order]
    plans = {
        h.spec: host_steps(
            config,
            roles,
            h.spec,
            Serve.previous(h.state),
            away=h.state.colour,
            warm=h.warm,
            listen=h.listen,
        )
        for h in hosts
    }
    for host in hosts:
        steps += [replace(s, phase="ready") for s in plans[host.spec] if s.action == "ready"]
    groups = batches(hosts, batch)
    for number, group in enumerate(groups, start=1):
        if len(groups) > 1:
            names = ", ".join(h.spec for h in group)
            what = f"batch {number} of {len(groups)}: {names}"
            steps.append(Step("*", "batch", what, (), DURING, op=Op("batch"), phase="switch"))
        for host in group:
            switch = [s for s in plans[host.spec] if s.action != "ready"]
            steps += [replace(s, phase="switch") for s in switch]
    for host in hosts:
        left = host.state.colour
        steps += retire_steps(config, roles, host.spec, left, keep_warm) if left else []
    steps += [unlock_step(h.spec) for h in in_order]
    targets = sorted({h.state.previous_version or h.state.previous_release or "" for h in hosts})
    header = f"plan: roll {environment} back to {', '.join(targets)} on {len(hosts)} host(s)"
    return Plan(environment, ", ".join(targets), tuple(steps), header=header, on_failure=ON_FAILURE)
