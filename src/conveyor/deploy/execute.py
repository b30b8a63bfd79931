"""The deploy executor: the only code that changes hosts.

It follows the plan's order (DESIGN.md, "Deploy, blue-green"): connect and lock
every host before touching any; upload, write the environment and build the
venv everywhere; then host by host start the idle colour, gate on its health,
switch Caddy, verify through Caddy; watch; and on any failure put every host
it switched back on its warm previous colour.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar, cast

from conveyor.deploy import hostops
from conveyor.deploy.health import HealthResult, wait_healthy, watch
from conveyor.deploy.hostops import Target, program_name
from conveyor.deploy.layout import (
    listen_address,
    loopback_port,
    ports,
    services_by_kind,
    services_on,
)
from conveyor.deploy.lock import LockOwner, acquire, release
from conveyor.deploy.plan import not_yet
from conveyor.deploy.state import Colour, HostState
from conveyor.errors import CommandFailed, ConveyorError
from conveyor.project.model import ConveyorConfig, ServiceConfig

T = TypeVar("T")


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


@dataclass(frozen=True)
class Outcome:
    """How the deploy ended; `message` says what happened and what serves now."""

    status: str  # "succeeded", "failed", "rolled_back"
    message: str
    cause: str | None = None
    states: dict[str, HostState] = field(default_factory=dict)


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
    _switched: list[_Switched] = field(default_factory=list)

    def services_on(self, target: Target) -> dict[str, ServiceConfig]:
        """The command services that run on this host, by role."""
        return services_on(self.config, self.roles, target.spec)

    async def run(self) -> Outcome:
        """The whole deploy; never leaves a host half-switched."""
        await self._each("connect", lambda t: t.conn.connect())
        owner = LockOwner.here(self.deploy_id)
        locked: list[Target] = []
        try:
            for target in sorted(self.targets, key=lambda t: t.spec):
                await acquire(
                    target.conn, target.paths.app_dir, owner, environment=self.environment
                )
                locked.append(target)
            self._say(None, "lock", "ok", f"locked {self.environment} on {len(locked)} host(s)")
            return await self._deploy()
        finally:
            for target in locked:
                await release(target.conn, target.paths.app_dir, self.deploy_id)

    async def _deploy(self) -> Outcome:
        for note in not_yet(self.config, self.environment):
            self._say(None, "note", "info", note)
        states = {t.spec: await hostops.read_state(t) for t in self.targets}
        if not self.force and await self._already_live(states):
            message = (
                f"{self.environment} already runs {self.release.version} with these values on "
                f"{len(self.targets)} host(s); nothing to do (--force redeploys)"
            )
            self._say(None, "deploy", "ok", message)
            return Outcome("succeeded", message, states=states)
        try:
            await self._each("prepare", hostops.prepare)
            await self._each(
                "upload", lambda t: hostops.upload(t, self.release.path, self.release.id)
            )
            await self._each("env", lambda t: hostops.write_env(t, self.env_text, self.release.id))
            await self._each(
                "venv", lambda t: hostops.ensure_venv(t, self.release.venv_key, self.release.id)
            )
            await self._migrate()
            # Every host starts and health-gates its new colour at once; none switches yet.
            records = [_Switched(t, states[t.spec]) for t in self.targets]
            self._switched.extend(records)  # from here on, undo knows what each host started
            await _all(self._start_host(r) for r in records)
            # Then traffic moves host by host, each verified through its Caddy.
            for record in records:
                await self._switch_host(record)
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
        self._say(None, "deploy", "ok", message)
        return Outcome("succeeded", message, states=live)

    async def _already_live(self, states: dict[str, HostState]) -> bool:
        """True when every host serves this release, with the same .env, and its web runs."""
        for target in self.targets:
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

    async def _migrate(self) -> None:
        """Migrations once per environment, on the first host of their role, before any switch."""
        migrations = self.config.migrations
        if migrations is None:
            return
        hosts = [t for t in self.targets if migrations.run_on in self.roles[t.spec]]
        if not hosts:
            return
        target = hosts[0]
        self._say(target.spec, "migrate", "start", f"alembic upgrade head ({migrations.config})")
        try:
            done = await hostops.migrate(
                target,
                venv_key=self.release.venv_key,
                release_id=self.release.id,
                config=migrations.config,
            )
        except CommandFailed as error:
            raise DeployFailed(error.message, cause=error.output) from None
        self._say(target.spec, "migrate", "ok", done)

    async def _start_host(self, record: _Switched) -> None:
        """Start every service's idle colour on the host (one start), then gate the web ones."""
        target, colour = record.target, record.before.idle_colour
        found = services_by_kind(self.config, self.roles, target.spec)
        # A singleton never runs twice at once: it changes over in the switch phase.
        http, others = found.http, found.workers
        progs = []
        for name, service in [*http.items(), *others.items()]:
            assert service.command is not None
            port = ports(self.config, name)[colour]
            progs.append(
                hostops.service_program(
                    target,
                    service=name,
                    command=service.command,
                    colour=colour,
                    port=port,
                    release_id=self.release.id,
                    version=self.release.version,
                    venv_key=self.release.venv_key,
                    drain=int(service.drain.total_seconds()),
                )
            )
            self._say(target.spec, "start", "start", f"starting {progs[-1].name} on port {port}")
        if not progs:
            return
        # A stop scheduled for this colour by the previous deploy must not hit the new release.
        await hostops.cancel_retire(target, colour)
        record.started.extend(prog.name for prog in progs)
        try:
            await hostops.start(target, *progs)
        except CommandFailed as error:
            what = error.message.split(" did not start")[0]
            raise DeployFailed(
                f"{what} crashed on start on {target.spec}", cause=str(error)
            ) from None
        for name, service in http.items():
            await self._gate(target, name, service, colour)

    async def _change_singleton(self, record: _Switched, name: str, service: ServiceConfig) -> None:
        """Stop the old singleton, then start the new one: never two at once, even now."""
        target, before = record.target, record.before
        colour = before.idle_colour
        if before.colour is not None:
            old = program_name(name, before.colour)
            await hostops.stop(target, old)
            self._say(target.spec, "stop", "ok", f"{old} stopped (a singleton: one at a time)")
        assert service.command is not None
        prog = hostops.service_program(
            target,
            service=name,
            command=service.command,
            colour=colour,
            port=ports(self.config, name)[colour],
            release_id=self.release.id,
            version=self.release.version,
            venv_key=self.release.venv_key,
            drain=int(service.drain.total_seconds()),
        )
        self._say(target.spec, "start", "start", f"starting {prog.name} (singleton)")
        record.started.append(prog.name)
        try:
            await hostops.start(target, prog)
        except CommandFailed as error:
            raise DeployFailed(
                f"{prog.name} crashed on start on {target.spec}", cause=str(error)
            ) from None

    async def _gate(
        self, target: Target, name: str, service: ServiceConfig, colour: Colour
    ) -> None:
        """Probe the new colour directly until healthy, broken, or its process is gone."""
        assert service.health is not None
        prog_name = program_name(name, colour)
        port = ports(self.config, name)[colour]
        result = await gate(target, prog_name, port, service.health, self.settings)
        self._health(target, prog_name, result)

    async def _switch_host(self, record: _Switched) -> None:
        """Route the host's traffic to the new colour, verify, retire old workers, record."""
        target, before = record.target, record.before
        colour = before.idle_colour
        services = self.services_on(target)
        assigned = {name: ports(self.config, name) for name in services}
        for name, service in services.items():
            if service.resolved_kind == "http":
                await self._route(target, name, service, assigned[name][colour], record)
        # Workers: the new colour runs; now the old one gets its graceful stop.
        for name, service in services.items():
            if service.resolved_kind == "worker" and before.colour is not None:
                old = program_name(name, before.colour)
                await hostops.stop(target, old)
                self._say(target.spec, "stop", "ok", f"{old} stopped gracefully")
        # Singletons: the old one stops first, then the new one starts (never two at once).
        for name, service in services.items():
            if service.resolved_kind == "singleton":
                await self._change_singleton(record, name, service)
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

    async def _route(
        self, target: Target, name: str, service: ServiceConfig, port: int, record: _Switched
    ) -> None:
        listen = listen_address(service)
        record.routed = True  # from here on, undo must route back
        started = await hostops.ensure_proxy(target, name, listen=listen, port=port)
        if not started:
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
        if self.settings.watch <= 0:
            return
        urls = []
        for switched in self._switched:
            for service in self.services_on(switched.target).values():
                if service.resolved_kind == "http" and service.health:
                    host, public = loopback_port(listen_address(service))
                    address, port = await switched.target.conn.forward(host, public)
                    urls.append((switched.target, f"http://{address}:{port}{service.health}"))
        self._say(None, "watch", "start", f"watching for {self.settings.watch:g}s")
        results = await asyncio.gather(
            *(
                watch(url, window=self.settings.watch, interval=self.settings.probe_interval)
                for _, url in urls
            )
        )
        for (target, _), result in zip(urls, results, strict=True):
            self._health(target, "watch", result)

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
        self._say(None, "rollback", "start", message)
        restored = 0
        for switched in reversed(self._switched):
            restored += await self._restore(switched)
        serving = {s.target.spec: s.before for s in self._switched}
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
        text = f"deploy of {self.release.version} to {self.environment} failed: {message}; {what}"
        self._say(None, "deploy", "fail", text)
        return Outcome(status, text, cause=cause, states=serving)

    async def _restore(self, switched: _Switched) -> int:
        """Undo one host; returns 1 when traffic had moved and went back to the old release."""
        target, before = switched.target, switched.before
        back = before.colour is not None
        for name, service in self.services_on(target).items():
            if before.colour is None:
                break
            if service.resolved_kind == "http" and switched.routed:
                await hostops.switch(target, name, ports(self.config, name)[before.colour])
                self._say(target.spec, "rollback", "ok", f"Caddy routes to {before.colour} again")
            elif service.resolved_kind == "singleton":
                await hostops.stop(target, program_name(name, before.idle_colour))
                await target.conn.run(target.runtime.start_argv(program_name(name, before.colour)))
            elif service.resolved_kind != "http":
                # The old worker may have had its graceful stop already; it starts again.
                await target.conn.run(target.runtime.start_argv(program_name(name, before.colour)))
        for prog in switched.started:
            await hostops.stop(target, prog)
        if switched.after is not None:
            await hostops.write_state(target, before)
            if before.release:
                await hostops.link_current(target, before.release)
        return 1 if switched.routed and back else 0

    async def _retire(self) -> None:
        """The old colour keeps serving nothing but stays warm for a rollback, then stops."""
        for switched in self._switched:
            old = switched.before.colour
            if old is None:
                continue
            target = switched.target
            names = [
                program_name(name, old)
                for name, service in self.services_on(target).items()
                if service.resolved_kind == "http"
            ]
            if self.settings.keep_warm <= 0:
                for name in names:
                    await hostops.stop(target, name)
                self._say(target.spec, "retire", "ok", f"stopped {', '.join(names)}")
                continue
            await hostops.schedule_retire(target, old, names, self.settings.keep_warm)
            minutes = self.settings.keep_warm / 60
            self._say(
                target.spec, "retire", "ok", f"{old} stays warm for {minutes:g} min, then stops"
            )

    async def _each(self, step: str, action: Callable[[Target], object]) -> list[object]:
        """Run `action` on every target at once; the first failure fails the step."""
        self._say(None, step, "start", f"{step} on {len(self.targets)} host(s)")

        async def one(target: Target) -> object:
            result = action(target)
            value = await result if asyncio.iscoroutine(result) else result
            if value is not None and not isinstance(value, HostState):
                self._say(target.spec, step, "ok", str(value))
            return value

        return await _all(one(t) for t in self.targets)

    def _say(self, host: str | None, step: str, status: str, message: str) -> None:
        self.emit(Event(host, step, status, message))


async def _all(work: Iterable[Awaitable[T]]) -> list[T]:
    """Await everything, even when something fails, then raise the first failure.

    A host still starting when another fails must finish before the undo runs, or it
    would start its new colour after the undo has stopped everything.
    """
    results = await asyncio.gather(*work, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast(list[T], results)


async def gate(
    target: Target, program: str, port: int, path: str, settings: Settings
) -> HealthResult:
    """Probe a colour directly (over SSH: tunnelled) until healthy, broken, or its process died."""
    address, local_port = await target.conn.forward("127.0.0.1", port)

    async def crashed() -> str | None:
        return await hostops.running(target, program)

    return await wait_healthy(
        f"http://{address}:{local_port}{path}",
        threshold=settings.healthy_threshold,
        unhealthy_threshold=settings.unhealthy_threshold,
        deadline=settings.health_timeout,
        interval=settings.probe_interval,
        abort=crashed,
    )
