"""The engine: carries out one plan step's typed operation on one host, and undoes it.

Deploy, rollback and recovery run their plans' steps through `Engine.do`; each
completed step that changed a host records its inverse in the host's undo journal
(`HostRun.journal`), and `Engine.undo` plays a host's journal back: traffic first,
then programs, then files, then the host's records, each tried even when an
earlier one failed. A host whose traffic could not be routed back keeps a pending
mark in its `state.json`, so `conveyor recover` finds it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from conveyor.deploy import files, hostops, programs, startgate, together
from conveyor.deploy.events import Emit, Event, Kind, Value
from conveyor.deploy.health import HealthResult, Settings, gate, wait_healthy, watch
from conveyor.deploy.hostops import Target
from conveyor.deploy.journal import FILES, PROGRAMS, HostRun, Undo, play_back
from conveyor.deploy.launch import launch
from conveyor.deploy.layout import loopback_port, ports, services_by_kind
from conveyor.deploy.migrate import migrate
from conveyor.deploy.plan import Op, Step
from conveyor.deploy.serve import Serve
from conveyor.errors import CommandFailed, ConveyorError, DeployFailed, StartFailed
from conveyor.hosts.upload import Entry, hashed
from conveyor.migrations.lint import Verdicts
from conveyor.project.model import ConveyorConfig
from conveyor.runtime.base import Program


@dataclass
class Engine:
    """Carries out operations for one run (`deploy_id`) of one environment."""

    config: ConveyorConfig
    roles: Mapping[str, Sequence[str]]  # host spec -> roles
    deploy_id: str
    settings: Settings
    emit: Emit
    release_path: Path | None = None  # the local release directory a deploy uploads
    env_text: str = ""  # the .env a deploy writes
    voice: str = ""  # say every event as this step ("rollback"), not the step's own
    lint: Verdicts = field(default_factory=Verdicts)  # the migrations' lint (deploy/migrate.py)
    _tree: asyncio.Future[tuple[Entry, ...]] | None = field(default=None, init=False, repr=False)

    async def do(self, host: HostRun, step: Step) -> None:
        """One step's operation on its host; its inverse goes into the host's journal."""
        await self.do_all(host, [step])

    async def do_all(self, host: HostRun, steps: Sequence[Step]) -> None:
        """A host's steps in order; consecutive ones that need no answer in between (writes
        and short scripts: deploy/together.py) go to the host in one round trip."""
        for group in together.groups(steps):
            if len(group) > 1 or (group[0].op is not None and group[0].op.kind in together.KINDS):
                await together.run(self, host, group)
                continue
            step = group[0]
            op = step.op
            assert op is not None
            began = time.monotonic()
            self.step_said(host, step, "start", step.description)
            try:
                await self._do(host, step, op, Serve.of(op))
            except BaseException as error:
                self.step_failed(host, step, error, time.monotonic() - began)
                raise
            self.step_said(host, step, "ok", step.description, time.monotonic() - began)
            host.done.append(step)

    async def _hashed(self) -> tuple[Entry, ...]:
        """The release's files with their contents' hashes: hashed once a run, for every host."""
        if self.release_path is None:
            return ()
        if self._tree is None:
            self._tree = asyncio.ensure_future(hashed(hostops.release_files(self.release_path)))
        return await asyncio.shield(self._tree)

    def step_said(
        self, host: HostRun, step: Step, status: str, message: str, seconds: float | None = None
    ) -> None:
        """A step's event: started, done (with its duration) or failed (why)."""
        assert step.op is not None
        facts: dict[str, Value] = {"op": step.op.kind, "phase": step.phase}
        line = (message.splitlines() or [""])[0]
        event = Event(
            host.target.spec, step.action, status, line, kind="step", seconds=seconds, fields=facts
        )
        self.emit(event)

    def step_failed(self, host: HostRun, step: Step, error: BaseException, seconds: float) -> None:
        """A step's failure event: the error's message, or its type when it is not ours."""
        why = error.message if isinstance(error, ConveyorError) else type(error).__name__
        self.step_said(host, step, "fail", why, seconds)

    async def _do(self, host: HostRun, step: Step, op: Op, to: Serve) -> None:
        """The operation itself."""
        target, kind = host.target, op.kind
        if kind == "prepare":
            # Which of the release's files the host has is asked in the same round trip.
            objects = [entry.object for entry in await self._hashed()]
            migrations = self.config.migrations
            migrates = migrations is not None and migrations.run_on in self.roles[target.spec]
            said, host.have = await hostops.prepare(target, objects, migrates=migrates)
            self.say(target, step.action, "ok", said)
        elif kind == "upload":
            assert self.release_path is not None
            said = await hostops.upload(target, await self._hashed(), to.release, host.have)
            self.say(target, step.action, "ok", said)
        elif kind == "migrate":
            await migrate(self, host, step, to)
        elif kind in ("release", "pre_start"):
            await self._command(target, step, to)
        elif kind == "launch":
            await launch(self, host, to)
        elif kind in ("ready", "start", "spawn"):
            await self._start(host, op, to)
        elif kind == "verify":
            await self._verify(target, op.service)
        elif kind == "sync":
            await self._sync(host, op, to)
        else:  # pragma: no cover - the planners make no other kind
            raise AssertionError(f"no operation {kind!r}")

    async def _command(self, target: Target, step: Step, to: Serve) -> None:
        """A command of the new release (its venv, values, app directory): the migrations, the
        release command, a pre_start; its failure fails the deploy with its output's tail."""
        op, release = step.op, self.config.release
        assert op is not None
        what = "release command" if op.kind == "release" else f"{op.service}'s pre_start"
        timeout = 600.0
        if op.kind == "release" and release is not None and release.timeout is not None:
            timeout = release.timeout.total_seconds()
        begin, end = self._words(op)
        self.say(target, step.action, "start", begin)
        began = time.monotonic()
        try:
            await hostops.run_in_release(
                target,
                step.argv,
                release_id=to.release,
                venv_key=to.venv,
                timeout=timeout,
                what=what,
            )
        except CommandFailed as error:
            raise DeployFailed(error.message, cause=error.output) from None
        said = f"{end} ({time.monotonic() - began:.1f}s)"
        if op.kind == "pre_start":
            said = end
        self.say(target, step.action, "ok", said)

    def _words(self, op: Op) -> tuple[str, str]:
        """What a command step says when it starts, and when it is done."""
        if op.kind == "release":
            assert self.config.release is not None
            return f"release command: {self.config.release.command}", "release command done"
        return f"{op.service}: {self.config.services[op.service].pre_start}", (
            f"{op.service}: pre_start done"
        )

    async def _start(self, host: HostRun, op: Op, to: Serve) -> None:
        """Make `to.colour` of a service run `to.release`: kept when it already runs exactly
        that definition (a failed deploy since may have redefined it), else started and gated
        (a web one probed directly; a singleton of a deploy watched past its startsecs)."""
        target, service = host.target, self.config.services[op.service]
        prog = self.program(target, op.service, to)
        started = time.monotonic()
        if prog.name in host.spawned:
            # A "spawn" step started it without waiting: its start is waited for here.
            pids = await self._started(target, programs.spawn(target, prog, started=True))
        else:
            state = await programs.state_of(target, prog.name)
            if state == "running" and await programs.defined(target, prog):
                return
            if op.how == "afresh" and state in ("starting", "backoff", "fatal"):
                # One an earlier attempt left crash-looping (supervisor retrying it, or given
                # up) starts afresh and is gated, not taken as started beside the retries.
                await programs.stop(target, prog.name)
            single = service.resolved_kind == "singleton"
            self.say(
                target,
                "start",
                "start",
                f"starting {prog.name}" + (" (singleton)" if single else ""),
            )
            host.journal.append(Undo(PROGRAMS, Op("stop", program=prog.name)))
            if op.kind in ("ready", "spawn"):
                host.cold.append(prog.name)
            if op.kind == "ready":
                host.warm = False
            if op.kind == "spawn":
                # Its start goes on while the host's other steps run; "start" waits for it.
                await programs.start(target, prog, wait=False)
                host.spawned.add(prog.name)
                return
            pids = await self._started(target, programs.start(target, prog))
        if service.resolved_kind == "http" and service.health:
            port = ports(self.config, op.service)[to.colour]
            result = await gate(target, prog.name, port, service.health, self.settings)
            if not result.healthy:
                await programs.stop(target, prog.name)
                raise ConveyorError(f"{prog.name} ({to.release}) is not healthy: {result.reason}")
        elif service.resolved_kind == "singleton" and not self.voice:
            # Its start gate: it must stay up SETTLE seconds from its start.
            left = max(0.0, startgate.SETTLE - (time.monotonic() - started))
            crash = await startgate.watch(target, pids, seconds=left)
            if crash is not None:
                raise DeployFailed(
                    crash.message(target.spec), cause=f"{crash.reason()}\n{crash.log}"
                )

    @staticmethod
    async def _started(target: Target, starting: Awaitable[dict[str, int]]) -> dict[str, int]:
        """The pids of a start; a program that did not stay up fails the step, told as its
        start gate tells a crash."""
        try:
            return await starting
        except StartFailed as error:
            message, cause = await startgate.failed_start(target, error)
            raise DeployFailed(message, cause=cause) from None

    async def watch(self, target: Target) -> None:
        """Probe the host's web services through its Caddy for the watch window."""
        window, interval = self.settings.watch, self.settings.probe_interval
        for name in services_by_kind(self.config, self.roles, target.spec).http:
            service = self.config.services[name]
            host, public = loopback_port(target.listen_for(name, service))
            address, port = await target.conn.forward(host, public)
            url = f"http://{address}:{port}{service.health}"
            self.health(target, "watch", await watch(url, window=window, interval=interval))

    async def _verify(self, target: Target, name: str) -> None:
        """The service answers through the host's Caddy."""
        service = self.config.services[name]
        host, public = loopback_port(target.listen_for(name, service))
        address, local_port = await target.conn.forward(host, public)
        assert service.health is not None
        result = await wait_healthy(
            f"http://{address}:{local_port}{service.health}",
            threshold=1,
            deadline=10,
            interval=self.settings.probe_interval,
        )
        self.health(target, f"{name} through Caddy", result)

    async def _sync(self, host: HostRun, op: Op, to: Serve) -> None:
        """A sync service's files from the release into place, then its `after` command."""
        target, before = host.target, host.before
        back = Op("sync", op.service, release=before.release or "", venv=before.venv or "")
        host.journal.append(Undo(FILES, back))
        missing_ok = op.how == "missing_ok"
        try:
            done = await files.put_files(
                target,
                self.config.services[op.service],
                release_id=to.release,
                venv_key=to.venv,
                missing_ok=missing_ok,
            )
        except CommandFailed as error:
            raise DeployFailed(error.message, cause=error.output) from None
        for action, said in zip(("sync", "after"), done, strict=False):
            self.say(target, action, "ok", f"{op.service}: {said}")

    async def undo(self, host: HostRun) -> bool:
        """Play the host's journal back (`deploy/journal.py`); True when its traffic went
        back to a colour that served before."""
        return await play_back(self, host)

    def program(self, target: Target, name: str, to: Serve) -> Program:
        """Service `name`'s program on `to.colour`, running `to.release`."""
        return programs.release_program(
            target,
            self.config,
            name,
            colour=to.colour,
            release_id=to.release,
            version=to.version,
            venv_key=to.venv,
        )

    def health(self, target: Target, what: str, result: HealthResult) -> None:
        """Say how a probe ended; DeployFailed, with the probes' timeline, when unhealthy."""
        if result.healthy:
            self.say(target, "health", "ok", f"{what}: {result.reason}", kind="probe", healthy=True)
            return
        self.say(target, "health", "fail", f"{what}: {result.reason}", kind="probe", healthy=False)
        raise DeployFailed(
            f"{what} on {target.spec} is not healthy: {result.reason.splitlines()[0]}",
            cause=f"{result.reason}\nprobes:\n{result.timeline()}",
        )

    def say(
        self,
        target: Target | None,
        step: str,
        status: str,
        message: str,
        *,
        kind: Kind = "note",
        **facts: Value,
    ) -> None:
        """An event of this run."""
        spec = target.spec if target is not None else None
        self.emit(Event(spec, self.voice or step, status, message, kind=kind, fields=facts))
