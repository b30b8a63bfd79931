"""The one way to make a host serve a release on a colour, as plan steps.

A deploy (the new release, on the idle colour), a rollback (the previous release,
on its colour) and putting a host forward again after a failed rollback (what it
served) all plan a host's switch with `host_steps`; the engine runs the steps.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from conveyor.deploy.hostops import program_name
from conveyor.deploy.layout import listen_address, ports, services_by_kind, syncs_on
from conveyor.deploy.plan import AFTER_SWITCH, Op, Step
from conveyor.deploy.state import Colour, HostState
from conveyor.project.model import ConveyorConfig

BEFORE = "nothing switches: every host keeps serving its release"
DURING = "the hosts that went back go forward again: one release everywhere"


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

    @classmethod
    def of(cls, op: Op) -> Serve:
        """The release an operation acts on."""
        colour: Colour = "green" if op.colour == "green" else "blue"
        return cls(op.release, colour, op.version, op.venv)

    def op(self, kind: str, *, service: str = "", program: str = "", how: str = "") -> Op:
        """An operation of this release on this colour."""
        return Op(kind, service, program, self.colour, self.release, self.version, self.venv, how)


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
    new: bool = False,
    record: str = "rolled_back",
    afresh: bool = False,
) -> list[Step]:
    """The steps that make host `spec` serve `to`, in order: its workers starting and its
    web colours ready (phase "ready"), then (`mark`: under a pending mark) traffic, workers
    (the new one started before the one of `away` stops; a singleton the other way round),
    synced files, `current`, the
    record (`record`: how the state changes, "switched", "rolled_back", "restored" or
    "cleared": the pending mark taken off). `afresh`: a program defined but not running (a
    crash loop an earlier attempt left) is stopped before it starts again.

    `new`: the deploy's new release, whose web and worker programs the start phase already
    started and gated: no ready steps, traffic is verified through Caddy after each switch,
    no worker starts here, and its synced files must be in the release.
    """
    on_failure = AFTER_SWITCH if new else DURING
    found = services_by_kind(config, roles, spec)
    colour, release = to.colour, to.release
    steps: list[Step] = []
    for name in found.workers if not new else ():
        # First: its start goes on while the web colours get ready and traffic switches; the
        # "start" step below waits for it.
        what = f"{program_name(name, colour)}: start on {release} (waited for after the switch)"
        spawn = to.op("spawn", service=name, how="afresh" if afresh else "")
        steps.append(Step(spec, "ready", what, (), BEFORE, op=spawn))
    if found.http and not new:
        what = f"call off any scheduled stop of the {colour} colour"
        steps.append(Step(spec, "ready", what, (), BEFORE, op=to.op("cancel_retire")))
    for name, service in found.http.items():
        if new:
            break
        prog = program_name(name, colour)
        if warm is None:
            what = (
                f"{prog} runs {release}: kept when warm, else started and {service.health} probed"
            )
        elif warm.get(name):
            what = f"{prog} runs {release} (warm: nothing to start)"
        else:
            what = f"{prog} has gone cold: start it on {release}, probe {service.health} directly"
        ready = to.op("ready", service=name, how="afresh" if afresh else "")
        steps.append(Step(spec, "ready", what, (), BEFORE, op=ready))
    if mark:
        what = f"mark the switch to {release} pending in state.json"
        steps.append(Step(spec, "state", what, (), on_failure, op=to.op("mark")))
    for name, service in found.http.items():
        where = listen_address(service, (listen or {}).get(name))
        what = f"Caddy on {where} -> port {ports(config, name)[colour]} ({colour})"
        # Started first if it is not running (a first deploy, a host rebooted since).
        route = to.op("route", service=name, how="proxy")
        steps.append(Step(spec, "switch", what, (), on_failure, op=route))
        if new:
            what = f"verify {service.health} through Caddy"
            steps.append(
                Step(spec, "health", what, (), on_failure, op=to.op("verify", service=name))
            )
    leaving = away if away is not None and away != colour else None
    for name, service in {**found.workers, **found.singletons}.items():
        new_prog = program_name(name, colour)
        old = program_name(name, leaving) if leaving else ""
        single = service.resolved_kind == "singleton"
        start = Step(
            spec,
            "start",
            f"{new_prog} on {release}" + (" (singleton)" if single else ""),
            (),
            on_failure,
            op=to.op("start", service=name, how="afresh" if afresh else ""),
        )
        stopping = to.op("stop", program=old, service=name)
        if single:
            what = f"{old}: stop (a singleton: one at a time)"
            stop = Step(spec, "stop", what, (), on_failure, op=stopping)
            steps += [stop, start] if old else [start]
        else:
            stop = Step(spec, "stop", f"{old}: graceful stop", (), on_failure, op=stopping)
            steps += [] if new else [start]
            steps += [stop] if old else []
    for name, service in syncs_on(config, roles, spec).items():
        assert service.sync is not None
        what = f"{name}: copy {service.sync.from_}/ of {release} to {service.sync.to}"
        if service.after is not None:
            what += f", then {service.after}"
        how = "strict" if new else "missing_ok"
        op = to.op("sync", service=name, how=how)
        steps.append(Step(spec, "sync", what, (), on_failure, op=op))
    link = to.op("link")
    steps.append(Step(spec, "link", f"current -> releases/{release}", (), on_failure, op=link))
    what = f"record {release} on {colour} in state.json"
    steps.append(Step(spec, "state", what, (), on_failure, op=to.op("record", how=record)))
    return steps


def retire_steps(
    config: ConveyorConfig,
    roles: Mapping[str, Sequence[str]],
    spec: str,
    old: Colour,
    keep_warm: float,
) -> list[Step]:
    """The colour a host left stays warm for a rollback, then stops (a program on the host
    does it); nothing when the host serves no web service."""
    http = services_by_kind(config, roles, spec).http
    if not http:
        return []
    names = ", ".join(program_name(name, old) for name in http)
    if keep_warm <= 0:
        what = f"stop {names} now (keep_previous_warm = 0)"
    else:
        what = f"keep {names} warm for {keep_warm / 60:g} min, then stop them"
    return [Step(spec, "retire", what, op=Op("retire", colour=old), phase="retire")]


def unlock_step(spec: str) -> Step:
    """The host's deploy lock given back, once it succeeded: with its retirement, in one round
    trip; a run that stops before gives every lock back itself."""
    return Step(spec, "unlock", "release the deploy lock", op=Op("unlock"), phase="retire")
