"""The deploy's plan: pure code from the model and the hosts' observed state to its steps.

`conveyor deploy --dry-run` prints it and the executor interprets it: the same
function plans both, from the hosts' states (read once; under the deploy lock for
the run). Phases, in order: the already-live check, ship (prepare, upload, env,
venv: every host at once, a bounded number at a time), migrate and the release
command (once, on the first host of their role), start (every host starts and
gates its new colour at once), the switch batch by batch (`deploy/serve.py`, the
same steps a rollback runs: a batch moves traffic), the finish of every host's switch
at once (old workers drained, singletons, synced files, `current`, the record), the
watch, and the retirement of the old colour.
"""

from __future__ import annotations

import posixpath
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from conveyor.deploy.hostops import command_argv, program_name
from conveyor.deploy.layout import idle_reason, ports, services_by_kind, syncs_on
from conveyor.deploy.plan import (
    AFTER_SWITCH,
    BEFORE_SWITCH,
    NOTHING_YET,
    HostView,
    Inputs,
    Op,
    Plan,
    Step,
)
from conveyor.deploy.serve import Serve, host_steps, retire_steps, unlock_step
from conveyor.migrations import runner
from conveyor.project.environment import batch_size
from conveyor.project.model import ConveyorConfig
from conveyor.runtime.control import control_argv
from conveyor.settings.secrets import MASK


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
    version: str = "",
    venv_key: str = "<venv>",
    batch: int | str = 1,
    max_failures: int = 0,
    left_out: Mapping[str, Sequence[str]] | None = None,
    limit: str = "",
    overrides: Sequence[str] = (),
    idle: Mapping[str, Sequence[str]] | None = None,
    inputs: Inputs | None = None,
    force: bool = False,
    recover_first: bool = False,
    migrations_head: str | None = None,
    migrations_refuse: Sequence[str] = (),
) -> Plan:
    """Every step of a blue-green deploy of `release` (`release_id` once built) to `hosts`.

    `left_out`: hosts of the environment that `limit` (--role/--host) keeps out, by roles.
    `overrides`: the `--set KEY=value` values (secrets masked) that replace the file's.
    `idle`: hosts with nothing to run, by roles: they get nothing.
    `force`: no already-live check. `recover_first`: an interrupted deploy is finished first.
    `migrations_head`: the revision the release's migrations end at (its only head);
    `migrations_refuse`: REVISION:RULE of its lint's findings that stop the migrations
    when one of those revisions is pending.
    """
    rid = release_id or "<release id>"
    new = Serve(rid, "blue", version or release, venv_key)
    steps: list[Step] = [Step("*", "check", f"config check {environment}: ok ({env_keys} keys)")]
    steps += [
        Step("*", "set", f"--set {o}: replaces the environment file's value") for o in overrides
    ]
    for spec, roles in (left_out or {}).items():
        what = f"left out by {limit} (roles {', '.join(roles)}): keeps what it runs"
        steps.append(Step(spec, "skip", what))
    for spec, roles in (idle or {}).items():
        steps.append(Step(spec, "skip", idle_reason(roles)))
    if recover_first:
        what = "finish a deploy that was interrupted here, if conveyor recover finds one"
        steps.append(Step("*", "recover", what))
    everyone = {h.spec: h.roles for h in hosts}
    hosts = [h if h.all_roles else replace(h, all_roles=everyone) for h in hosts]
    for host in hosts:
        note = f" (state unknown: {host.reachable})" if host.reachable else ""
        steps.append(Step(host.spec, "connect", f"connect, verify the host key{note}"))
    # A host that cannot be reached is dropped (max_failures allows it): it gets nothing.
    hosts = [h for h in hosts if not h.reachable]
    for host in sorted(hosts, key=lambda h: h.spec):
        steps.append(Step(host.spec, "lock", f"take the {environment} deploy lock"))
    running = [h.spec for h in hosts if h.state.release == rid]
    if not force and running:
        what = (
            f"{', '.join(running)} run{'s' if len(running) == 1 else ''} {rid}: a host whose "
            ".env is these values and whose web colour runs is left as it is (--force "
            "redeploys)"
        )
        steps.append(Step("*", "live", what, op=new.op("live"), phase="live"))
    shipped = [_ship(host, new, env_keys, _runs_code(config, host)) for host in hosts]
    for action in ("prepare", "upload", "env", "venv"):  # every host prepares, then uploads, ...
        steps += [step for ship in shipped for step in ship if step.action == action]
    steps += _once(config, hosts, new, migrations_head, migrations_refuse)
    for host in hosts:
        steps += _start(config, host, new)
    switches = {
        host.spec: host_steps(
            config,
            host.all_roles,
            host.spec,
            replace(new, colour=host.state.idle_colour),
            away=host.state.colour,
            listen=host.listen,
            new=True,
            record="switched",
        )
        for host in hosts
    }
    # Batches move traffic: a host that serves no web service has none to move.
    web = [h for h in hosts if any(s.op and s.op.kind == "route" for s in switches[h.spec])]
    size = batch_size(batch, len(web))
    batches = [web[i : i + size] for i in range(0, len(web), size)]
    for number, group in enumerate(batches, start=1):
        phase = f"batch {number}"
        names = ", ".join(h.spec for h in group)
        gate = "each verified through Caddy" + (
            f" before batch {number + 1}" if number < len(batches) else ""
        )
        what = f"batch {number} of {len(batches)}: {names} ({gate}); stops if a lock was lost"
        steps.append(Step("*", "batch", what, (), AFTER_SWITCH, op=Op("batch"), phase=phase))
        for host in group:
            steps += [replace(s, phase=phase) for s in switches[host.spec] if _moves_traffic(s)]
    # The rest of each host's switch (its old workers' drain, the singletons, synced files,
    # `current`, the record; all of it on a host without web) once every batch has, on every
    # host at once: a long drain does not hold up the next batch.
    for host in hosts:
        moved = host in web
        rest = [s for s in switches[host.spec] if not (moved and _moves_traffic(s))]
        steps += [replace(s, phase="finish") for s in rest]
    if watch > 0 and any(services_by_kind(config, h.all_roles, h.spec).http for h in hosts):
        what = f"probe through Caddy for {watch:g}s"
        steps.append(Step("*", "watch", what, (), AFTER_SWITCH, op=Op("watch"), phase="watch"))
    for host in hosts:
        old = host.state.colour
        steps += retire_steps(config, host.all_roles, host.spec, old, keep_warm) if old else []
    for host in sorted(hosts, key=lambda h: h.spec):
        # With the retirement: the same round trip (deploy/together.py).
        steps.append(unlock_step(host.spec))
    return Plan(environment, release, tuple(steps), max_failures, inputs=inputs)


def _moves_traffic(step: Step) -> bool:
    """A step of a host's switch that a batch waits for: the pending mark, Caddy's switch, and
    the check through Caddy that the new colour answers."""
    return step.op is not None and step.op.kind in ("mark", "route", "verify")


def _runs_code(config: ConveyorConfig, host: HostView) -> bool:
    """Whether anything runs the release's code on the host (with its venv and values): a
    service, a sync's `after`, the migrations or the release command. A host that only
    receives synced files gets neither a venv nor the secret values."""
    found = services_by_kind(config, host.all_roles, host.spec)
    syncs = syncs_on(config, host.all_roles, host.spec)
    once = [p.run_on for p in (config.migrations, config.release) if p is not None]
    return bool(
        found.http
        or found.workers
        or found.singletons
        or any(service.after for service in syncs.values())
        or any(role in host.roles for role in once)
    )


def _ship(host: HostView, new: Serve, env_keys: int, runs_code: bool = True) -> list[Step]:
    paths, spec = host.paths, host.spec
    tools = "tools venv (supervisor, caddy), supervisord running; which release files it has"
    upload = f"send the files it lacks -> {paths.release(new.release)}"
    env = f"write {paths.env_file} ({env_keys} keys, {MASK}, mode 0600)"
    venv = "build or reuse the venv of the release's lock"
    steps = [
        Step(spec, "prepare", tools, op=Op("prepare")),
        Step(spec, "upload", upload, op=new.op("upload")),
    ]
    if runs_code:
        steps.append(Step(spec, "env", env, secret=True, op=new.op("env")))
        steps.append(Step(spec, "venv", venv, op=new.op("venv")))
    # A host's values and venv go in one round trip (deploy/together.py): one phase.
    return [replace(s, phase="venv" if s.action == "env" else s.action) for s in steps]


def _once(
    config: ConveyorConfig,
    hosts: Sequence[HostView],
    new: Serve,
    head: str | None = None,
    refuse: Sequence[str] = (),
) -> list[Step]:
    """Migrations, then the release command: once, on the first host of their role."""
    steps: list[Step] = []
    migrations, phase = config.migrations, config.release
    if migrations is not None:
        what = "migrations, once, before any switch" + (f", up to revision {head}" if head else "")
        if migrations.backup:
            what += "; a verified pg_dump first, when any is pending"
        if migrations.rehearse:
            what += ", and a rehearsal on its copy"

        def upgrade(host: HostView) -> tuple[str, ...]:
            python = posixpath.join(host.paths.venv(new.venv), "bin", "python")
            return runner.argv(
                python,
                host.paths.migrator,
                migrations.config,
                "upgrade",
                lock_timeout=migrations.lock_timeout,
                attempts=migrations.attempts,
                backups=(host.paths.backups, migrations.keep_backups)
                if migrations.backup
                else None,
                refuse=refuse,
                rehearse=(migrations.rehearse_lock_limit, migrations.large_table_rows)
                if migrations.rehearse
                else None,
            )

        steps.append(
            _first_of(hosts, migrations.run_on, "migrate", what, upgrade, new, how=head or "")
        )
    if phase is not None:
        what = "release command, once, after migrations, before any switch"
        steps.append(_first_of(hosts, phase.run_on, "release", what, lambda _: phase.argv, new))
    return [replace(s, phase="once") for s in steps]


def _first_of(
    hosts: Sequence[HostView],
    role: str,
    action: str,
    what: str,
    argv: Callable[[HostView], Sequence[str]],
    new: Serve,
    how: str = "",
) -> Step:
    """A command run once, on the first host of `role` (left out when the deploy has none);
    `how`: the migrations' head, which the database must read back at afterwards."""
    chosen = [h for h in hosts if role in h.roles]
    if not chosen:
        return Step("*", action, f"left out: no host of role {role} in this deploy")
    op = new.op(action, how=how)
    return Step(chosen[0].spec, action, what, tuple(argv(chosen[0])), NOTHING_YET, op=op)


def _start(config: ConveyorConfig, host: HostView, new: Serve) -> list[Step]:
    """Each service's pre_start, then one start of every web and worker program of the idle
    colour, probed directly (web) and watched (all) until the gates pass."""
    to = replace(new, colour=host.state.idle_colour)
    found = services_by_kind(config, host.all_roles, host.spec)
    http, others = found.http, found.workers
    steps: list[Step] = []
    for name, service in [*http.items(), *others.items(), *found.singletons.items()]:
        if service.pre_start is not None:
            what = f"{name}'s pre_start, before its new release starts here"
            op = to.op("pre_start", service=name)
            steps.append(Step(host.spec, "pre_start", what, tuple(service.pre_start_argv), op=op))
    lines, names = [], []
    for name, service in [*http.items(), *others.items()]:
        assert service.command is not None
        names.append(program_name(name, to.colour))
        command = shlex.join(command_argv(service.command, ports(config, name)[to.colour]))
        lines.append(f"{names[-1]}: {command}")
    for name, service in http.items():
        lines.append(f"probe {program_name(name, to.colour)} at {service.health} directly")
    if names:
        runtime_argv = tuple(control_argv(host.paths.app_dir, host.paths.tools, names))
        what = "\n".join(lines)
        steps.append(
            Step(host.spec, "start", what, runtime_argv, BEFORE_SWITCH, op=to.op("launch"))
        )
    return [replace(s, phase="start") for s in steps]
