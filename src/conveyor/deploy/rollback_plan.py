"""The rollback's plan: pure code from the hosts' states to the steps `conveyor rollback` runs.

Each step carries a typed `Op`; `deploy/rollback.py` interprets them in the plan's
order and decides nothing about it: every host's "ready" steps first (its previous
web colour runs and answers: warm, nothing to do; cold, started and gated), then
every host's switch steps at once under a pending mark. Putting a host forward
again after a failed rollback is the same planner given the other desired state
(what the host served before), so there is one way to make a host serve a release.
`conveyor rollback ENV --dry-run` prints the plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from conveyor.deploy.hostops import program_name
from conveyor.deploy.layout import listen_address, ports, services_by_kind, syncs_on
from conveyor.deploy.plan import Op, Plan, Step
from conveyor.deploy.state import Colour, HostState
from conveyor.project.model import ConveyorConfig

BEFORE = "nothing switches: every host keeps serving its release"
DURING = "the hosts that went back go forward again: one release everywhere"
ON_FAILURE = (
    f"on failure before any host switches: {BEFORE}",
    f"on failure while hosts switch:        {DURING}",
    "a host that cannot be put right keeps the rollback's record running for conveyor recover",
)


@dataclass(frozen=True)
class Serve:
    """What a host is made to serve: a release on a colour (with its version and venv)."""

    release: str
    colour: Colour
    version: str
    venv: str

    @classmethod
    def previous(cls, state: HostState) -> Serve:
        """The release the host served before its current one."""
        assert state.previous_release is not None and state.previous_colour is not None
        assert state.previous_venv is not None
        version = state.previous_version or state.previous_release
        return cls(state.previous_release, state.previous_colour, version, state.previous_venv)

    @classmethod
    def current(cls, state: HostState) -> Serve:
        """The release the host serves now."""
        assert state.release is not None and state.colour is not None and state.venv is not None
        return cls(state.release, state.colour, state.version or state.release, state.venv)

    def op(self, kind: str, *, service: str = "", program: str = "") -> Op:
        """An operation of this release on this colour."""
        return Op(kind, service, program, self.colour, self.release, self.version, self.venv)


@dataclass(frozen=True)
class BackView:
    """What the planner knows of a host: its state, and which previous web colours run."""

    spec: str
    state: HostState
    # http service -> still running; None: not looked at (the run itself finds out).
    warm: Mapping[str, bool] | None = None
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
        steps += [s for s in plans[host.spec] if s.action == "ready"]
    for host in hosts:
        steps += [s for s in plans[host.spec] if s.action != "ready"]
    steps += [Step(h.spec, "unlock", "release the deploy lock") for h in hosts]
    targets = sorted({h.state.previous_version or h.state.previous_release or "" for h in hosts})
    header = f"plan: roll {environment} back to {', '.join(targets)} on {len(hosts)} host(s)"
    return Plan(environment, ", ".join(targets), tuple(steps), header=header, on_failure=ON_FAILURE)


def host_steps(
    config: ConveyorConfig,
    roles: Mapping[str, Sequence[str]],
    spec: str,
    to: Serve,
    *,
    away: Colour | None,
    warm: Mapping[str, bool] | None = None,
    listen: Mapping[str, str] | None = None,
    mark: bool = True,
) -> list[Step]:
    """The steps that make host `spec` serve `to`, in order: its web colours ready ("ready"),
    then (`mark`: under a pending mark) traffic, workers (the new one starts before the one of
    `away` stops; a singleton the other way round), synced files, `current`, the record."""
    found = services_by_kind(config, roles, spec)
    colour, release = to.colour, to.release
    steps: list[Step] = []
    if found.http:
        what = f"call off any scheduled stop of the {colour} colour"
        steps.append(Step(spec, "ready", what, (), BEFORE, op=to.op("cancel_retire")))
    for name, service in found.http.items():
        prog = program_name(name, colour)
        if warm is None:
            what = (
                f"{prog} runs {release}: kept when warm, else started and {service.health} probed"
            )
        elif warm.get(name):
            what = f"{prog} runs {release} (warm: nothing to start)"
        else:
            what = f"{prog} has gone cold: start it on {release}, probe {service.health} directly"
        steps.append(Step(spec, "ready", what, (), BEFORE, op=to.op("ready", service=name)))
    if mark:
        what = f"mark the switch to {release} pending in state.json"
        steps.append(Step(spec, "state", what, (), DURING, op=to.op("mark")))
    for name, service in found.http.items():
        where = listen_address(service, (listen or {}).get(name))
        what = f"Caddy on {where} -> port {ports(config, name)[colour]} ({colour})"
        steps.append(Step(spec, "switch", what, (), DURING, op=to.op("route", service=name)))
    leaving = away if away is not None and away != colour else None
    for name, service in {**found.workers, **found.singletons}.items():
        new, old = program_name(name, colour), program_name(name, leaving) if leaving else ""
        starting = to.op("start", service=name)
        start = Step(spec, "start", f"{new} on {release}", (), DURING, op=starting)
        stopping = to.op("stop", program=old)
        stop = Step(spec, "stop", f"{old}: graceful stop", (), DURING, op=stopping)
        if service.resolved_kind == "singleton":
            what = f"{old} (a singleton: one at a time)"
            stop = Step(spec, "stop", what, (), DURING, op=stopping)
            steps += [stop, start] if old else [start]
        else:
            steps += [start, stop] if old else [start]
    for name, service in syncs_on(config, roles, spec).items():
        assert service.sync is not None
        what = f"{name}: copy {service.sync.from_}/ of {release} to {service.sync.to}"
        if service.after is not None:
            what += f", then {service.after}"
        steps.append(Step(spec, "sync", what, (), DURING, op=to.op("sync", service=name)))
    steps.append(Step(spec, "link", f"current -> releases/{release}", (), DURING, op=to.op("link")))
    what = f"record {release} on {colour} in state.json"
    steps.append(Step(spec, "state", what, (), DURING, op=to.op("record")))
    return steps
