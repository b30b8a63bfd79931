"""The deploy plan: pure code from the model and the hosts' observed state to a list of steps.

`conveyor deploy --dry-run` prints it; the executor runs the same steps in the
same order (a test holds the two together). Each step names its host, what it
does, the argv it runs where there is one, and what happens if it fails.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from conveyor.deploy.hostops import command_argv, program_name
from conveyor.deploy.layout import (
    HostPaths,
    HostServices,
    idle_reason,
    listen_address,
    ports,
    services_by_kind,
    syncs_on,
)
from conveyor.deploy.state import HostState
from conveyor.project.environment import batch_size
from conveyor.project.model import ConveyorConfig
from conveyor.runtime.supervisor import Supervisor, start_all_argv
from conveyor.settings.secrets import MASK

# What a failure at each kind of step does to the environment.
BEFORE_SWITCH = "stop the new colour; traffic stays on the old one"
AFTER_SWITCH = "switch every host of this deploy back to its warm old colour"
NOTHING_YET = "stop; nothing was changed"


@dataclass(frozen=True)
class Op:
    """What a step does, typed: an executor acts on this; the description is for a person.

    `kind` names the operation (ready, route, start, stop, sync, link, mark, record, ...);
    the other fields are its arguments: a service, a program, the release on a colour.
    """

    kind: str
    service: str = ""
    program: str = ""
    colour: str = ""
    release: str = ""
    version: str = ""
    venv: str = ""


@dataclass(frozen=True)
class Step:
    """One thing the deploy does on one host ("*": the whole environment)."""

    host: str
    action: str
    description: str
    argv: tuple[str, ...] = ()
    on_failure: str = NOTHING_YET
    secret: bool = False  # writes secret values: the plan shows that it does, never what
    op: Op | None = None  # set where an executor interprets the step (the rollback's plan)

    def render(self) -> str:
        """`host  action  description` and, indented, the argv."""
        line = f"{self.host:<24} {self.action:<8} {self.description}"
        if self.argv:
            shown = [f"<{a.count(chr(10)) + 1}-line script>" if "\n" in a else a for a in self.argv]
            line += f"\n{'':<34}$ {shlex.join(shown)}"
        return line


@dataclass(frozen=True)
class HostView:
    """What the planner knows of a host: where the app lives, its roles, its state."""

    spec: str
    paths: HostPaths
    roles: tuple[str, ...]
    state: HostState
    reachable: str | None = None  # why the state could not be read, if it could not
    # Every host's roles, in the environment's order (a singleton runs on the first).
    all_roles: Mapping[str, Sequence[str]] = field(default_factory=dict)
    listen: Mapping[str, str] = field(default_factory=dict)  # the host's own Caddy addresses


@dataclass(frozen=True)
class Inputs:
    """What a deploy plan was built from, each as a value or a digest."""

    release: str  # the release id (content-derived, so a rebuild of the same commit matches)
    commit: str  # the commit a release built at deploy comes from ("" for a built one)
    values: str  # sha256 of the .env text the hosts get
    config: str  # sha256 of the validated conveyor.toml model
    hosts: Mapping[str, Any]  # each host's state.json as read, or why it could not be read
    watch: float | None = None
    roles: tuple[str, ...] = ()  # --role / --host the deploy is limited to
    limit_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    """The whole deploy, in order."""

    environment: str
    release: str
    steps: tuple[Step, ...]

    max_failures: int = 0
    # Another use of the plan (a rollback) says what it does and what a failure does.
    header: str = ""
    on_failure: tuple[str, ...] = ()
    inputs: Inputs | None = None  # what it was built from, for a saved plan's digest

    def render(self) -> str:
        """The plan for a person; secret payloads never appear."""
        lines = [self.header or f"plan: deploy {self.release} to {self.environment}", ""]
        lines += [step.render() for step in self.steps]
        lines += (
            ["", *self.on_failure]
            if self.on_failure
            else [
                "",
                "on failure before a host switches: " + BEFORE_SWITCH,
                "on failure after a host switched:  " + AFTER_SWITCH,
            ]
        )
        if self.max_failures:
            lines += [
                f"max_failures = {self.max_failures}: up to {self.max_failures} failing host(s) "
                "are put back on their previous release and reported; the others go on"
            ]
        return "\n".join(lines)


def build_plan(
    config: ConveyorConfig,
    environment: str,
    *,
    release: str,
    hosts: Sequence[HostView],
    env_keys: int,
    watch: float,
    keep_warm: float = 900.0,
    release_id: str | None = None,
    batch: int | str = 1,
    max_failures: int = 0,
    left_out: Mapping[str, Sequence[str]] | None = None,
    limit: str = "",
    overrides: Sequence[str] = (),
    idle: Mapping[str, Sequence[str]] | None = None,
    inputs: Inputs | None = None,
) -> Plan:
    """Every step of a blue-green deploy of `release` (`release_id` once built) to `hosts`.

    `left_out`: hosts of the environment that `limit` (--role/--host) keeps out, by roles.
    `overrides`: the `--set KEY=value` values (secrets masked) that replace the file's.
    `idle`: hosts with nothing to run, by roles: they get nothing.
    """
    steps: list[Step] = [Step("*", "check", f"config check {environment}: ok ({env_keys} keys)")]
    steps += [
        Step("*", "set", f"--set {o}: replaces the environment file's value") for o in overrides
    ]
    for spec, roles in (left_out or {}).items():
        what = f"left out by {limit} (roles {', '.join(roles)}): keeps what it runs"
        steps.append(Step(spec, "skip", what))
    for spec, roles in (idle or {}).items():
        steps.append(Step(spec, "skip", idle_reason(roles)))
    everyone = {h.spec: h.roles for h in hosts}
    hosts = [h if h.all_roles else replace(h, all_roles=everyone) for h in hosts]
    for host in hosts:
        note = f" (state unknown: {host.reachable})" if host.reachable else ""
        steps.append(Step(host.spec, "connect", f"connect, verify the host key{note}"))
    for host in sorted(hosts, key=lambda h: h.spec):
        steps.append(Step(host.spec, "lock", f"take the {environment} deploy lock"))
    for host in hosts:
        steps += _ship(host, release_id or "<release id>", env_keys)
    steps += _migrate(config, hosts)
    steps += _release_phase(config, hosts)
    for host in hosts:
        steps += _start(config, host)
    size = batch_size(batch, len(hosts))
    batches = [hosts[i : i + size] for i in range(0, len(hosts), size)]
    for number, group in enumerate(batches, start=1):
        names = ", ".join(h.spec for h in group)
        gate = "each verified through Caddy" + (
            f" before batch {number + 1}" if number < len(batches) else ""
        )
        steps.append(
            Step(
                "*",
                "batch",
                f"batch {number} of {len(batches)}: {names} ({gate})",
                (),
                AFTER_SWITCH,
            )
        )
        for host in group:
            steps += _switch(config, host)
    if watch > 0:
        steps.append(Step("*", "watch", f"probe through Caddy for {watch:g}s", (), AFTER_SWITCH))
    for host in hosts:
        steps += _retire(config, host, keep_warm)
    for host in sorted(hosts, key=lambda h: h.spec):
        steps.append(Step(host.spec, "unlock", "release the deploy lock"))
    return Plan(environment, release, tuple(steps), max_failures, inputs=inputs)


def _ship(host: HostView, release: str, env_keys: int) -> list[Step]:
    paths = host.paths
    return [
        Step(host.spec, "prepare", "tools venv (supervisor, caddy), supervisord running"),
        Step(host.spec, "upload", f"send the files it lacks -> {paths.release(release)}"),
        Step(
            host.spec,
            "env",
            f"write {paths.env_file} ({env_keys} keys, {MASK}, mode 0600)",
            secret=True,
        ),
        Step(host.spec, "venv", "build or reuse the venv of the release's lock"),
    ]


def _migrate(config: ConveyorConfig, hosts: Sequence[HostView]) -> list[Step]:
    migrations = config.migrations
    chosen = [h for h in hosts if migrations and migrations.run_on in h.roles]
    if migrations is None:
        return []
    if not chosen:
        return [
            Step("*", "migrate", f"left out: no host of role {migrations.run_on} in this deploy")
        ]
    host = chosen[0]
    argv = ("alembic", "-c", migrations.config, "upgrade", "head")
    return [Step(host.spec, "migrate", "migrations, once, before any switch", argv, NOTHING_YET)]


def _release_phase(config: ConveyorConfig, hosts: Sequence[HostView]) -> list[Step]:
    phase = config.release
    if phase is None:
        return []
    chosen = [h for h in hosts if phase.run_on in h.roles]
    if not chosen:
        return [Step("*", "release", f"left out: no host of role {phase.run_on} in this deploy")]
    what = "release command, once, after migrations, before any switch"
    return [Step(chosen[0].spec, "release", what, tuple(phase.argv), NOTHING_YET)]


def _services(config: ConveyorConfig, host: HostView) -> HostServices:
    """The host's services by kind."""
    return services_by_kind(config, host.all_roles or {host.spec: host.roles}, host.spec)


def _start(config: ConveyorConfig, host: HostView) -> list[Step]:
    """Start every service's idle colour (one start), then probe the web ones directly."""
    colour = host.state.idle_colour
    runtime = Supervisor(host.paths.app_dir, host.paths.tools)
    found = _services(config, host)
    http, others = found.http, found.workers
    steps: list[Step] = []
    for name, service in [*http.items(), *others.items(), *found.singletons.items()]:
        if service.pre_start is not None:
            what = f"{name}'s pre_start, before its new release starts here"
            steps.append(Step(host.spec, "pre_start", what, tuple(service.pre_start_argv)))
    names = []
    for name, service in [*http.items(), *others.items()]:
        assert service.command is not None
        prog = program_name(name, colour)
        names.append(prog)
        command = shlex.join(command_argv(service.command, ports(config, name)[colour]))
        steps.append(Step(host.spec, "start", f"{prog}: {command}", (), BEFORE_SWITCH))
    if names:
        argv = tuple(start_all_argv(runtime.app_dir, runtime.tools, names))
        steps[-1] = Step(host.spec, "start", steps[-1].description, argv, BEFORE_SWITCH)
    for name, service in http.items():
        prog = program_name(name, colour)
        steps.append(
            Step(
                host.spec, "health", f"probe {prog} at {service.health} directly", (), BEFORE_SWITCH
            )
        )
    return steps


def _switch(config: ConveyorConfig, host: HostView) -> list[Step]:
    """Move the host's traffic, verify it, retire the old workers, record the state."""
    colour, old = host.state.idle_colour, host.state.colour
    runtime = Supervisor(host.paths.app_dir, host.paths.tools)
    found = _services(config, host)
    http, others, singletons = found.http, found.workers, found.singletons
    steps: list[Step] = []
    for name, service in http.items():
        port = ports(config, name)[colour]
        where = listen_address(service, host.listen.get(name))
        steps.append(
            Step(
                host.spec, "switch", f"Caddy on {where} -> port {port} ({colour})", (), AFTER_SWITCH
            )
        )
        steps.append(
            Step(host.spec, "health", f"verify {service.health} through Caddy", (), AFTER_SWITCH)
        )
    if old is not None:
        for name in others:
            prog = program_name(name, old)
            steps.append(
                Step(
                    host.spec,
                    "stop",
                    f"{prog}: graceful stop",
                    tuple(runtime.stop_argv(prog)),
                    AFTER_SWITCH,
                )
            )
    for name in singletons:
        if old is not None:
            prog = program_name(name, old)
            stop = tuple(runtime.stop_argv(prog))
            steps.append(
                Step(host.spec, "stop", f"{prog}: stop (a singleton: one at a time)", stop)
            )
        prog = program_name(name, colour)
        steps.append(Step(host.spec, "start", f"{prog} (singleton)", (), AFTER_SWITCH))
    for name, service in syncs_on(
        config, host.all_roles or {host.spec: host.roles}, host.spec
    ).items():
        assert service.sync is not None
        copy = f"{name}: copy {service.sync.from_}/ of the release to {service.sync.to}"
        steps.append(Step(host.spec, "sync", copy, (), AFTER_SWITCH))
        if service.after is not None:
            steps.append(Step(host.spec, "after", f"{name}: {service.after}", (), AFTER_SWITCH))
    steps.append(Step(host.spec, "state", f"record the release on {colour} in state.json"))
    return steps


def _retire(config: ConveyorConfig, host: HostView, keep_warm: float) -> list[Step]:
    """The old colour stays warm for a rollback, then stops (a program on the host does it)."""
    old = host.state.colour
    http = _services(config, host).http
    if old is None or not http:
        return []
    names = ", ".join(program_name(name, old) for name in http)
    if keep_warm <= 0:
        return [Step(host.spec, "retire", f"stop {names} now (keep_previous_warm = 0)")]
    minutes = f"{keep_warm / 60:g} min"
    return [Step(host.spec, "retire", f"keep {names} warm for {minutes}, then stop them")]


def views(
    hosts: Sequence[tuple[str, HostPaths]],
    roles: Mapping[str, Sequence[str]],
    states: Mapping[str, HostState | str],
    *,
    listens: Mapping[str, Mapping[str, str]] | None = None,
) -> list[HostView]:
    """HostViews from what was read (a state, or why it could not be read)."""
    out = []
    for spec, paths in hosts:
        seen = states[spec]
        state, why = (seen, None) if isinstance(seen, HostState) else (HostState(), seen)
        listen = (listens or {}).get(spec, {})
        out.append(HostView(spec, paths, tuple(roles[spec]), state, why, roles, listen))
    return out
