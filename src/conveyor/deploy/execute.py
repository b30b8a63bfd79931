"""The deploy executor: the only code that changes hosts.

It follows the plan's order (DESIGN.md, "Deploy, blue-green"): connect and lock
every host before touching any; upload, write the environment and build the
venv everywhere (a bounded number of hosts at once); start the idle colour on
every host and gate on its health; then switch Caddy batch by batch, each host
verified through Caddy before the next batch; watch; and on any failure put
every host it switched back on its warm previous colour. `max_failures` lets a
fleet lose a few hosts: each is put back on its old release and reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from conveyor.deploy import hostops, startgate
from conveyor.deploy.health import HealthResult, wait_healthy, watch
from conveyor.deploy.hostops import Target, program_name
from conveyor.deploy.layout import (
    loopback_port,
    ports,
    services_by_kind,
    services_on,
    syncs_on,
)
from conveyor.deploy.lock import LockLost, LockOwner, acquire, heartbeats, release
from conveyor.deploy.state import Colour, HostState
from conveyor.errors import CommandFailed, ConveyorError, HostUnreachable, LockHeld, StartFailed
from conveyor.hosts.base import Connector
from conveyor.project.environment import batch_size
from conveyor.project.model import ConveyorConfig, ServiceConfig
from conveyor.runtime.base import Program

T = TypeVar("T")

# Putting one host back (switch, stops, state) never takes longer than this.
RESTORE_DEADLINE = 120.0


@dataclass(frozen=True)
class Event:
    """Something the executor did or saw; renderers and the history store subscribe."""

    host: str | None
    step: str
    status: str  # "start", "ok", "fail", "info"
    message: str
    at: float = field(default_factory=time.time)


Emit = Callable[[Event], None]


@dataclass(frozen=True)
class Release:
    """What is deployed: the release directory built by `conveyor build`."""

    id: str
    version: str
    path: Path
    venv_key: str


@dataclass(frozen=True)
class Settings:
    """How the deploy behaves, from the environment's strategy."""

    healthy_threshold: int = 3
    unhealthy_threshold: int = 10
    health_timeout: float = 60.0
    watch: float = 30.0
    keep_warm: float = 900.0
    probe_interval: float = 0.15
    batch: int | str = 1  # hosts switched at once: a number or a share, "25%"
    max_failures: int = 0  # hosts that may fail (and stay on the old release) before all go back
    concurrency: int = 16  # hosts prepared (upload, venv) at once


@dataclass(frozen=True)
class Outcome:
    """How the deploy ended; `message` says what happened and what serves now."""

    status: str  # "succeeded", "failed", "rolled_back"
    message: str
    cause: str | None = None
    states: dict[str, HostState] = field(default_factory=dict)
    # Hosts that failed and were left on their previous release (within max_failures): why.
    left_out: dict[str, str] = field(default_factory=dict)


class DeployFailed(ConveyorError):
    """A step failed; carries the cause for the record (health timeline, log tail)."""

    def __init__(self, message: str, *, cause: str) -> None:
        super().__init__(message)
        self.cause = cause


@dataclass
class _Switched:
    target: Target
    before: HostState
    after: HostState | None = None  # set once the host's state says it runs the new release
    started: list[str] = field(default_factory=list)  # programs this deploy started here
    routed: bool = False  # Caddy points at the new colour
    rerouted: list[str] = field(default_factory=list)  # services whose running Caddy was switched
    pending: bool = False  # state.json says a switch to the new release is under way
    synced: list[str] = field(default_factory=list)  # sync services copied from the new release
    stopped: list[str] = field(default_factory=list)  # old programs this deploy stopped


@dataclass
class Executor:
    """Runs one deploy of one release to the targets of one environment."""

    config: ConveyorConfig
    environment: str
    targets: Sequence[Target]
    roles: dict[str, list[str]]  # host spec -> roles
    release: Release
    env_text: str
    deploy_id: str
    settings: Settings
    emit: Emit
    force: bool = False  # redeploy even when the release already serves everywhere
    # Each host's state as a saved plan saw it: one that differs once locked stops the deploy.
    expect: Mapping[str, object] | None = None
    _switched: list[_Switched] = field(default_factory=list)
    _active: list[Target] = field(default_factory=list)  # hosts still in this deploy
    _failed: dict[str, str] = field(default_factory=dict)  # hosts left out (tolerated): why
    _lost: list[LockLost] = field(default_factory=list)  # locks someone else took meanwhile

    def services_on(self, target: Target) -> dict[str, ServiceConfig]:
        """The command services that run on this host, by role."""
        return services_on(self.config, self.roles, target.spec)

    async def run(self) -> Outcome:
        """The whole deploy; never leaves a host half-switched."""
        self._active = list(self.targets)
        await self._each("connect", lambda t: t.conn.connect())
        owner = LockOwner.here(self.deploy_id)
        locked: list[Target] = []
        held: list[tuple[Connector, str]] = []  # the heartbeat refreshes these while we run
        try:
            async with heartbeats(held, self.deploy_id) as self._lost:
                # In one order everywhere: of two deploys started at once, one stops at the
                # first host.
                for target in sorted(self._active, key=lambda t: t.spec):
                    try:
                        await acquire(
                            target.conn, target.paths.app_dir, owner, environment=self.environment
                        )
                    except LockHeld:
                        raise
                    except ConveyorError as error:
                        await self._drop(target, "lock", error)
                        continue
                    locked.append(target)
                    held.append((target.conn, target.paths.app_dir))
                count = len(locked)
                self._say(None, "lock", "ok", f"locked {self.environment} on {count} host(s)")
                return await self._deploy()
        finally:
            for target in locked:
                try:
                    await release(target.conn, target.paths.app_dir, self.deploy_id)
                except ConveyorError as error:
                    self._say(target.spec, "unlock", "fail", f"lock left in place: {error.message}")

    async def _deploy(self) -> Outcome:
        read = await asyncio.gather(*(hostops.read_state(t) for t in self._active))
        states = {t.spec: state for t, state in zip(self._active, read, strict=True)}
        if self.expect is not None:
            changed = [t for t in self._active if asdict(states[t.spec]) != self.expect.get(t.spec)]
            if changed:
                names = ", ".join(t.spec for t in changed)
                raise ConveyorError(
                    f"{names}: not as the saved plan saw it (a deploy since?); nothing was changed",
                    hint=f"make a new plan: conveyor deploy {self.environment} --plan-out FILE",
                )
        if not self.force and not self._failed and await self._already_live(states):
            message = (
                f"{self.environment} already runs {self.release.version} with these values on "
                f"{len(self._active)} host(s); nothing to do (--force redeploys)"
            )
            self._say(None, "deploy", "ok", message)
            return Outcome("succeeded", message, states=states)
        try:
            await self._each("prepare", hostops.prepare, bounded=True)
            await self._each(
                "upload",
                lambda t: hostops.upload(t, self.release.path, self.release.id),
                bounded=True,
            )
            await self._each("env", lambda t: hostops.write_env(t, self.env_text, self.release.id))
            await self._each(
                "venv",
                lambda t: hostops.ensure_venv(t, self.release.venv_key, self.release.id),
                bounded=True,
            )
            await self._migrate()
            await self._release_phase()
            # Every host starts and health-gates its new colour at once; none switches yet.
            records = {t.spec: _Switched(t, states[t.spec]) for t in self._active}
            self._switched.extend(records.values())  # from here on, undo knows what each started
            await self._each(
                "start", lambda t: self._start_host(records[t.spec]), say=False, fail_fast=True
            )
            # Then traffic moves batch by batch, each host verified through its Caddy.
            for number, batch in enumerate(self._batches(), start=1):
                if self._lost:
                    raise self._lost[0]  # another deploy or a recovery owns a host now
                names = ", ".join(t.spec for t in batch)
                self._say(None, "batch", "info", f"batch {number}: {names}")
                await self._each(
                    "switch", lambda t: self._switch_host(records[t.spec]), only=batch, say=False
                )
            await self._watch()
        except (DeployFailed, ConveyorError) as error:
            cause = error.cause if isinstance(error, DeployFailed) else str(error)
            return await self._undo(error.message, cause)
        except BaseException as error:
            # A bug or an interruption: still put every host back before it propagates.
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self._undo(f"interrupted ({type(error).__name__})", repr(error))
                )
            raise
        await self._retire()
        live = {s.target.spec: s.after for s in self._switched if s.after}
        message = (
            f"{self.environment} now runs {self.release.version} ({self.release.id}) "
            f"on {len(live)} host(s)"
        )
        if self._failed:
            message += f"; {len(self._failed)} host(s) failed and stay on their previous release: "
            message += ", ".join(sorted(self._failed))
        self._say(None, "deploy", "ok", message)
        return Outcome("succeeded", message, states=live, left_out=dict(self._failed))

    def _batches(self) -> list[list[Target]]:
        """The hosts still in the deploy, in batches of the strategy's size, in config order."""
        hosts = list(self._active)
        size = batch_size(self.settings.batch, len(hosts))
        return [hosts[i : i + size] for i in range(0, len(hosts), size)]

    async def _already_live(self, states: dict[str, HostState]) -> bool:
        """True when every host serves this release, with the same .env, and its web runs."""
        for target in self._active:
            state = states[target.spec]
            if state.release != self.release.id or state.colour is None:
                return False
            try:
                env = await target.conn.get(target.paths.env_file)
            except FileNotFoundError:
                return False
            if env != self.env_text.encode():
                return False
            for name, service in self.services_on(target).items():
                prog = program_name(name, state.colour)
                if service.resolved_kind == "http" and await hostops.running(target, prog):
                    return False
        return True

    def _first_of(self, role: str, step: str) -> Target | None:
        """The first host of `role` still in the deploy, for a step run once per environment;
        None, said as an event, when the deploy has none."""
        hosts = [t for t in self._active if role in self.roles[t.spec]]
        if not hosts:
            self._say(None, step, "info", f"left out: no host of role {role}")
            return None
        return hosts[0]

    async def _migrate(self) -> None:
        """Migrations once per environment, on the first host of their role, before any switch."""
        migrations = self.config.migrations
        if migrations is None:
            return
        target = self._first_of(migrations.run_on, "migrate")
        if target is None:
            return
        self._say(target.spec, "migrate", "start", f"alembic upgrade head ({migrations.config})")
        done = await _failing_deploy(
            hostops.migrate(
                target,
                venv_key=self.release.venv_key,
                release_id=self.release.id,
                config=migrations.config,
            )
        )
        self._say(target.spec, "migrate", "ok", done)

    async def _release_phase(self) -> None:
        """The release command once per environment, on the first host of its role, after the
        migrations and before any new colour starts."""
        phase = self.config.release
        if phase is None:
            return
        target = self._first_of(phase.run_on, "release")
        if target is None:
            return
        self._say(target.spec, "release", "start", f"release command: {phase.command}")
        began = time.monotonic()
        await self._in_release(target, phase.argv, "release command", phase.timeout)
        took = time.monotonic() - began
        self._say(target.spec, "release", "ok", f"release command done ({took:.1f}s)")

    async def _pre_start(self, target: Target, names: Sequence[str]) -> None:
        """Each service's `pre_start` on this host, before its new colour starts."""
        for name in names:
            service = self.config.services[name]
            if service.pre_start is None:
                continue
            self._say(target.spec, "pre_start", "start", f"{name}: {service.pre_start}")
            await self._in_release(target, service.pre_start_argv, f"{name}'s pre_start")
            self._say(target.spec, "pre_start", "ok", f"{name}: pre_start done")

    async def _in_release(
        self, target: Target, argv: Sequence[str], what: str, timeout: timedelta | None = None
    ) -> None:
        """Run a command of the new release (its venv, values, app directory) or fail the
        deploy, before any switch, with its output's tail as the cause."""
        await _failing_deploy(
            hostops.run_in_release(
                target,
                argv,
                release_id=self.release.id,
                venv_key=self.release.venv_key,
                timeout=timeout.total_seconds() if timeout else 600,
                what=what,
            )
        )

    async def _start_host(self, record: _Switched) -> None:
        """Start every service's idle colour on the host (one start), then gate the web ones."""
        target, colour = record.target, record.before.idle_colour
        found = services_by_kind(self.config, self.roles, target.spec)
        # A singleton never runs twice at once: it changes over in the switch phase.
        http, others = found.http, found.workers
        # Before anything new starts here, singletons included: a failure changes nothing.
        await self._pre_start(target, [*http, *others, *found.singletons])
        progs = []
        for name in [*http, *others]:
            progs.append(self._program(target, name, colour))
            # A worker listens on nothing: its $PORT is reserved, not served.
            where = f" on port {ports(self.config, name)[colour]}" if name in http else ""
            self._say(target.spec, "start", "start", f"starting {progs[-1].name}{where}")
        if not progs:
            return
        # A stop scheduled for this colour by the previous deploy must not hit the new release.
        await hostops.cancel_retire(target, colour)
        record.started.extend(prog.name for prog in progs)
        await hostops.define(target, *progs)  # a warm old process on these ports stops here
        # The health probes start while supervisor waits out `startsecs`; they ask whether the
        # process died only once it is up.
        spawned = asyncio.ensure_future(hostops.spawn(target, *progs))
        gates = asyncio.ensure_future(self._gates(target, http, colour, spawned))
        try:
            # Shielded: a start cut short could still start a program after the undo stopped it.
            pids = await asyncio.shield(spawned)
        except BaseException as error:
            gates.cancel()
            await asyncio.gather(spawned, gates, return_exceptions=True)
            if not isinstance(error, StartFailed):
                raise
            message, cause = await startgate.failed_start(target, error)
            raise DeployFailed(message, cause=cause) from None
        # Every program (http and workers) is watched until the health gates pass: one that
        # exits, is restarted or loses its workers ends the gate at once.
        deadline = self.settings.health_timeout + 5
        crash = await startgate.watch_while(target, pids, gates, deadline=deadline)
        if crash is not None:
            self._say(target.spec, "health", "fail", crash.reason())
            raise DeployFailed(crash.message(target.spec), cause=f"{crash.reason()}\n{crash.log}")

    def _program(self, target: Target, name: str, colour: Colour) -> Program:
        """Service `name`'s program in `colour`, running the release this deploy ships."""
        return hostops.release_program(
            target,
            self.config,
            name,
            colour=colour,
            release_id=self.release.id,
            version=self.release.version,
            venv_key=self.release.venv_key,
        )

    async def _gates(
        self,
        target: Target,
        http: dict[str, ServiceConfig],
        colour: Colour,
        spawned: asyncio.Future[dict[str, int]],
    ) -> None:
        for name, service in http.items():
            await self._gate(target, name, service, colour, spawned)

    async def _change_singleton(self, record: _Switched, name: str) -> None:
        """Stop the old singleton, then start the new one: never two at once, even now."""
        target, before = record.target, record.before
        colour = before.idle_colour
        if before.colour is not None:
            old = program_name(name, before.colour)
            record.stopped.append(old)
            await hostops.stop(target, old)
            self._say(target.spec, "stop", "ok", f"{old} stopped (a singleton: one at a time)")
        prog = self._program(target, name, colour)
        self._say(target.spec, "start", "start", f"starting {prog.name} (singleton)")
        record.started.append(prog.name)
        try:
            await hostops.define(target, prog)
            pids = await hostops.spawn(target, prog)
        except StartFailed as error:
            message, cause = await startgate.failed_start(target, error)
            raise DeployFailed(message, cause=cause) from None
        # Its start gate: it must stay up a moment longer than supervisor's startsecs.
        crash = await startgate.watch(target, pids, seconds=startgate.SETTLE)
        if crash is not None:
            raise DeployFailed(crash.message(target.spec), cause=f"{crash.reason()}\n{crash.log}")

    async def _gate(
        self,
        target: Target,
        name: str,
        service: ServiceConfig,
        colour: Colour,
        spawned: asyncio.Future[dict[str, int]] | None = None,
    ) -> None:
        """Probe the new colour directly until healthy, broken, or its process is gone."""
        assert service.health is not None
        prog_name = program_name(name, colour)
        port = ports(self.config, name)[colour]
        result = await gate(target, prog_name, port, service.health, self.settings, spawned)
        self._health(target, prog_name, result)

    async def _switch_host(self, record: _Switched) -> None:
        """Route the host's traffic to the new colour, verify, retire old workers, record."""
        target, before = record.target, record.before
        colour = before.idle_colour
        services = self.services_on(target)
        assigned = {name: ports(self.config, name) for name in services}
        self._say(target.spec, "switch", "start", f"switching to {colour}")
        # Written first: a deploy killed from here on leaves a mark `conveyor recover` reads.
        pending = replace(before, pending_release=self.release.id, deploy_id=self.deploy_id)
        await hostops.write_state(target, pending)
        record.pending = True
        for name, service in services.items():
            if service.resolved_kind == "http":
                await self._route(target, name, service, assigned[name][colour], record)
        # Workers: the new colour runs; now the old one gets its graceful stop.
        for name, service in services.items():
            if service.resolved_kind == "worker" and before.colour is not None:
                old = program_name(name, before.colour)
                record.stopped.append(old)
                seconds = service.drain.total_seconds()
                self._say(target.spec, "stop", "start", f"stopping {old} (drain {seconds:g}s)")
                drained = await hostops.drain(target, old, seconds=seconds)
                status = "info" if drained.how == "killed" else "ok"
                self._say(target.spec, "stop", status, drained.message)
        # Singletons: the old one stops first, then the new one starts (never two at once).
        for name, service in services.items():
            if service.resolved_kind == "singleton":
                await self._change_singleton(record, name)
        for name, service in syncs_on(self.config, self.roles, target.spec).items():
            await self._sync(record, name, service, self.release.id, self.release.venv_key)
        after = before.switched(
            self.release.id,
            version=self.release.version,
            venv=self.release.venv_key,
            at=time.time(),
            deploy_id=self.deploy_id,
            warm_for=self.settings.keep_warm,
        )
        record.after = replace(
            after,
            ports={n: {str(c): p for c, p in colours.items()} for n, colours in assigned.items()},
        )
        await hostops.write_state(target, record.after)
        await hostops.link_current(target, self.release.id)
        self._say(target.spec, "state", "ok", f"serving {self.release.version} on {colour}")

    async def _sync(
        self,
        record: _Switched,
        name: str,
        service: ServiceConfig,
        release: str,
        venv: str,
        *,
        restore: bool = False,
    ) -> None:
        """Copy the service's files from `release` into place, then run its `after` command.

        `restore`: putting an earlier release's files back; one without the directory had
        none, so the files the later sync wrote are removed.
        """
        target = record.target
        if not restore:
            record.synced.append(name)
        try:
            done = await hostops.put_files(
                target, service, release_id=release, venv_key=venv, missing_ok=restore
            )
            for step, said in zip(("sync", "after"), done, strict=False):
                self._say(target.spec, step, "ok", f"{name}: {said}")
        except CommandFailed as error:
            raise DeployFailed(error.message, cause=error.output) from None

    async def _route(
        self, target: Target, name: str, service: ServiceConfig, port: int, record: _Switched
    ) -> None:
        listen = target.listen_for(name, service)
        record.routed = True  # from here on, undo must route back
        started = await hostops.ensure_proxy(target, name, listen=listen, port=port)
        if not started:
            record.rerouted.append(name)  # a Caddy that served before: undo routes it back
            await hostops.switch(target, name, port)
        self._say(target.spec, "switch", "ok", f"Caddy on {listen} now routes to port {port}")
        host, public = loopback_port(listen)
        address, local_port = await target.conn.forward(host, public)
        assert service.health is not None
        result = await wait_healthy(
            f"http://{address}:{local_port}{service.health}",
            threshold=1,
            deadline=10,
            interval=self.settings.probe_interval,
        )
        self._health(target, f"{name} through Caddy", result)

    async def _watch(self) -> None:
        """Probe every switched host through its Caddy for the watch window, all at once."""
        if self.settings.watch <= 0:
            return
        self._say(None, "watch", "start", f"watching for {self.settings.watch:g}s")

        async def one(target: Target) -> None:
            for name, service in self.services_on(target).items():
                if service.resolved_kind == "http" and service.health:
                    host, public = loopback_port(target.listen_for(name, service))
                    address, port = await target.conn.forward(host, public)
                    url = f"http://{address}:{port}{service.health}"
                    window, interval = self.settings.watch, self.settings.probe_interval
                    self._health(
                        target, "watch", await watch(url, window=window, interval=interval)
                    )

        await self._each("watch", one, say=False)

    def _health(self, target: Target, what: str, result: HealthResult) -> None:
        if result.healthy:
            self._say(target.spec, "health", "ok", f"{what}: {result.reason}")
            return
        self._say(target.spec, "health", "fail", f"{what}: {result.reason}")
        raise DeployFailed(
            f"{what} on {target.spec} is not healthy: {result.reason.splitlines()[0]}",
            cause=f"{result.reason}\nprobes:\n{result.timeline()}",
        )

    async def _undo(self, message: str, cause: str) -> Outcome:
        """Put every host this deploy touched back on what it served before, newest first."""
        if self._switched:  # before any host started the release there is nothing to undo
            hosts = len(self._switched)
            self._say(
                None,
                "rollback",
                "start",
                f"putting back what this deploy started on {hosts} host(s)",
            )
        lost: list[str] = []

        async def one(switched: _Switched) -> int:
            # Every host at once: one that cannot be reached must not hold up the others.
            try:
                return await asyncio.wait_for(self._restore(switched), RESTORE_DEADLINE)
            except (ConveyorError, OSError) as error:
                why = error.message if isinstance(error, ConveyorError) else str(error) or "timeout"
                lost.append(switched.target.spec)
                self._say(switched.target.spec, "rollback", "fail", f"could not put back: {why}")
                return 0

        restored = sum(await asyncio.gather(*(one(s) for s in self._switched)))
        serving = {s.target.spec: s.before for s in self._switched if s.target.spec not in lost}
        previous = {s.release for s in serving.values() if s.release}
        if restored:
            status = "rolled_back"
            what = f"traffic is back on {', '.join(sorted(previous))}"
        elif previous or not self._switched:
            status = "failed"
            what = "traffic never left the release that was serving"
        else:
            status = "failed"
            what = "nothing served before this deploy and nothing serves now"
        if lost:
            what += (
                f"; {', '.join(lost)} not put back (unreachable or a step failed, see above): "
                f"run conveyor recover {self.environment} once it is reachable"
            )
        text = f"deploy of {self.release.version} to {self.environment} failed: {message}; {what}"
        self._say(None, "deploy", "fail", text)
        return Outcome(status, text, cause=cause, states=serving, left_out=dict(self._failed))

    async def _restore(self, switched: _Switched) -> int:
        """Undo one host; returns 1 when traffic had moved and went back to the old release.

        Each step is tried even when an earlier one failed; the failures are raised together
        at the end. A host that cannot be reached raises at once. When Caddy could not be
        routed back, state.json keeps a pending mark, so `conveyor recover` finds the host.
        """
        target, before = switched.target, switched.before
        problems: list[str] = []

        async def attempt(what: str, work: Awaitable[object]) -> bool:
            try:
                await work
            except HostUnreachable:
                raise
            except ConveyorError as error:
                problems.append(f"{what}: {error.message.splitlines()[0]}")
                return False
            return True

        routed_back = True
        if before.colour is not None:
            for name in switched.rerouted:
                port = ports(self.config, name)[before.colour]
                if await attempt(f"Caddy of {name}", hostops.switch(target, name, port)):
                    self._say(
                        target.spec, "rollback", "ok", f"Caddy routes to {before.colour} again"
                    )
                else:
                    routed_back = False
        for prog in switched.started:
            await attempt(f"stop {prog}", hostops.stop(target, prog))
        # What this deploy stopped (old workers, the old singleton) starts again.
        for prog in switched.stopped:
            await attempt(f"start {prog}", target.conn.run(target.runtime.start_argv(prog)))
        for name in switched.synced:
            service = self.config.services[name]
            if before.release is None or before.venv is None:
                self._say(target.spec, "rollback", "info", f"{name}: no earlier files to put back")
                continue
            back = self._sync(switched, name, service, before.release, before.venv, restore=True)
            await attempt(f"files of {name}", back)
        if not routed_back:
            mark = replace(before, pending_release=self.release.id, deploy_id=self.deploy_id)
            await attempt("state.json", hostops.write_state(target, mark))
        elif switched.after is not None or switched.pending:
            await attempt("state.json", hostops.write_state(target, before))
            if before.release:
                await attempt("current", hostops.link_current(target, before.release))
        if problems:
            raise ConveyorError(f"{target.spec}: put back only in part: {'; '.join(problems)}")
        return 1 if switched.routed and before.colour is not None else 0

    async def _retire(self) -> None:
        """The old colour keeps serving nothing but stays warm for a rollback, then stops.

        The deploy has succeeded by now: a host that fails here is reported, not undone.
        """

        async def one(switched: _Switched) -> None:
            old, target = switched.before.colour, switched.target
            if old is None:
                return
            names = [
                program_name(name, old)
                for name, service in self.services_on(target).items()
                if service.resolved_kind == "http"
            ]
            try:
                if self.settings.keep_warm <= 0:
                    for name in names:
                        await hostops.stop(target, name)
                    self._say(target.spec, "retire", "ok", f"stopped {', '.join(names)}")
                    return
                await hostops.schedule_retire(target, old, names, self.settings.keep_warm)
            except ConveyorError as error:
                self._say(target.spec, "retire", "fail", f"{old} keeps running: {error.message}")
                return
            minutes = self.settings.keep_warm / 60
            said = f"{old} stays warm for {minutes:g} min, then stops"
            self._say(target.spec, "retire", "ok", said)

        await asyncio.gather(*(one(s) for s in self._switched))

    async def _each(
        self,
        step: str,
        action: Callable[[Target], object],
        *,
        only: Sequence[Target] | None = None,
        say: bool = True,
        bounded: bool = False,
        fail_fast: bool = False,
    ) -> None:
        """Run `action` on every host still in the deploy (`only`: those of them) at once
        (`bounded`: `concurrency` at a time, for steps that send files or build venvs); a host
        that fails is dropped within max_failures, else the step fails.

        Every host finishes before a failure is acted on: a host still starting when another
        fails must not start its new colour after the undo has stopped everything.
        `fail_fast`: a failure more than max_failures allows cancels the other hosts' work
        at once (their health gates), and their cancellation is awaited.
        """
        hosts = [t for t in (self._active if only is None else only) if t in self._active]
        if say:
            self._say(None, step, "start", f"{step} on {len(hosts)} host(s)")
        limit = asyncio.Semaphore(self.settings.concurrency if bounded else len(hosts) or 1)

        async def one(target: Target) -> None:
            async with limit:
                result = action(target)
                value = await result if asyncio.iscoroutine(result) else result
            if value is not None and not isinstance(value, HostState):
                self._say(target.spec, step, "ok", str(value))

        tasks = [asyncio.ensure_future(one(t)) for t in hosts]
        if fail_fast:
            await self._first_failure(tasks)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        # The hosts that failed first: a host cancelled because of them is not a failure.
        failed = [(t, r) for t, r in zip(hosts, results, strict=True) if isinstance(r, Exception)]
        for target, error in failed:
            await self._drop(target, step, error)
        for target, outcome in zip(hosts, results, strict=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                await self._drop(target, step, outcome)

    async def _first_failure(self, tasks: Sequence[asyncio.Future[None]]) -> None:
        """Wait for `tasks`; once more of them failed than max_failures allows, cancel the rest."""
        allowed = self.settings.max_failures - len(self._failed)
        pending: set[asyncio.Future[None]] = set(tasks)
        while pending:
            _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
            failures = sum(1 for t in tasks if t.done() and not t.cancelled() and t.exception())
            if failures > allowed:
                break
        for task in pending:
            task.cancel()

    async def _drop(self, target: Target, step: str, error: BaseException) -> None:
        """A host failed: leave it on its previous release if max_failures allows, else raise."""
        if not isinstance(error, ConveyorError):
            raise error  # a bug or an interruption, not a host's failure
        self._failed[target.spec] = f"{step}: {error.message.splitlines()[0]}"
        if stops_deploy(len(self._failed), len(self._active) - 1, self.settings.max_failures):
            raise error  # too many, or none would be left: every host goes back
        self._active.remove(target)
        record = next((r for r in self._switched if r.target is target), None)
        where = "left on its previous release"
        if record is not None:
            self._switched.remove(record)
            try:
                await asyncio.wait_for(self._restore(record), RESTORE_DEADLINE)
            except (ConveyorError, OSError):
                where = f"could not be put back: run conveyor recover {self.environment}"
                self._failed[target.spec] += f"; {where}"
        tolerated = f"{len(self._failed)} of max_failures = {self.settings.max_failures}"
        self._say(
            target.spec, step, "fail", f"{error.message.splitlines()[0]}; {where} ({tolerated})"
        )

    def _say(self, host: str | None, step: str, status: str, message: str) -> None:
        self.emit(Event(host, step, status, message))


def stops_deploy(failed: int, left: int, max_failures: int) -> bool:
    """The deploy's failure rule, which its dry run applies too: more hosts failed than
    `max_failures` allows, or none would be left."""
    return failed > max_failures or left == 0


async def _failing_deploy(work: Awaitable[T]) -> T:
    """`work`'s result; a command that failed on a host fails the deploy, its output's tail
    the cause."""
    try:
        return await work
    except CommandFailed as error:
        raise DeployFailed(error.message, cause=error.output) from None


async def gate(
    target: Target,
    program: str,
    port: int,
    path: str,
    settings: Settings,
    spawned: asyncio.Future[dict[str, int]] | None = None,
) -> HealthResult:
    """Probe a colour directly (over SSH: tunnelled) until healthy, broken, or its process died.

    `spawned`: while it is not done, the process is still being started and is not asked after.
    """
    address, local_port = await target.conn.forward("127.0.0.1", port)

    async def crashed() -> str | None:
        if spawned is not None and not spawned.done():
            return None
        return await hostops.running(target, program)

    return await wait_healthy(
        f"http://{address}:{local_port}{path}",
        threshold=settings.healthy_threshold,
        unhealthy_threshold=settings.unhealthy_threshold,
        deadline=settings.health_timeout,
        interval=settings.probe_interval,
        abort=crashed,
    )
