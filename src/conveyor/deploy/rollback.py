"""`conveyor rollback`: back to the previous release on every host at once, or on none.

The previous colour's programs are still defined on each host (release, venv,
port); when they still run, a rollback is only Caddy's upstream file being
rewritten. When they have gone cold, they start again from the host's
`releases/` and pass the health gate.

All or nothing, like a deploy: every host first makes its previous web colour
run and answer (nothing switches yet; a host that cannot go back leaves every
host where it was), then every host switches at once. A host that fails during
its switch puts the hosts that went back forward again, so the environment
serves one release; each host carries a pending mark in `state.json` while it
switches, and a host that cannot be put right leaves the record running for
`conveyor recover`.

The order is the plan's (`deploy/rollback_plan.py`): this module interprets its
steps' typed operations, and putting a host forward again runs the plan of the
other desired state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace

from conveyor.deploy import hostops, programs, schema_guard
from conveyor.deploy.engine import Engine
from conveyor.deploy.events import Emit, Event
from conveyor.deploy.health import Settings
from conveyor.deploy.hostops import Target, program_name
from conveyor.deploy.journal import HostRun
from conveyor.deploy.layout import services_by_kind
from conveyor.deploy.lock import (
    LockLost,
    LockOwner,
    acquire,
    held,
    inspect,
    release_all,
    take_all,
)
from conveyor.deploy.plan import Plan, Step
from conveyor.deploy.rollback_plan import BackView, batches, build_rollback_plan
from conveyor.deploy.serve import Serve, host_steps
from conveyor.deploy.state import HostState
from conveyor.deploy.together import retire_unfinished
from conveyor.errors import ConveyorError, RollbackFailed
from conveyor.project.model import ConveyorConfig


@dataclass(frozen=True)
class RolledBack:
    """One host after a rollback."""

    host: str
    release: str
    warm: bool  # True: a switch to the running colour; False: it had to start again
    seconds: float
    version: str = ""


@dataclass
class Rollback:
    """Puts every host of an environment back on its previous release."""

    config: ConveyorConfig
    environment: str
    targets: Sequence[Target]
    roles: dict[str, list[str]]
    deploy_id: str
    settings: Settings
    emit: Emit
    batch: int = 0  # hosts switched at a time, one batch after another (0: every host at once)
    downgrade: bool = False  # run the downgrades a rollback to its schema needs (schema_guard)
    accept_loss: str = ""  # why a downgrade that drops data may run (--accept-loss --why)
    lost: list[LockLost] = field(default_factory=list)  # locks the heartbeat found taken over
    _unlocked: set[str] = field(default_factory=set)  # hosts whose unlock step gave it back

    async def run(self) -> list[RolledBack]:
        """Lock, check every host can go back, make the previous colours answer everywhere,
        then switch every host at once; returns what happened."""
        await asyncio.gather(*(hostops.connect(t) for t in self.targets))
        owner = LockOwner.here(self.deploy_id)
        locked: list[Target] = []
        read: dict[str, str | None] = {}

        async def take(target: Target) -> None:
            read[target.spec] = await acquire(
                target.conn,
                target.paths.app_dir,
                owner,
                environment=self.environment,
                read=target.paths.state,  # once locked, in the same round trip
            )
            locked.append(target)

        try:
            ordered = sorted(self.targets, key=lambda t: t.spec)
            for error in (await take_all(ordered, take)).values():
                raise error  # every host or none
            states = [hostops.state_from(t, read[t.spec]) for t in self.targets]
            hosts = self._going_back(states)
            guard, _ = await self._schema(hosts)  # a failure in it puts the schema back
            try:
                return await self._all_or_nothing(hosts)
            except RollbackFailed as failed:
                if failed.left:  # hosts left mid-switch: `recover` decides, then the schema
                    self._say_to("*", "the schema stays as the downgrade left it", "fail")
                else:
                    await self._forward(guard, hosts)
                raise
            except BaseException:
                await self._forward(guard, hosts)
                raise
        finally:
            left = [(t.conn, t.paths.app_dir) for t in locked if t.spec not in self._unlocked]
            gone = await release_all(left, self.deploy_id)
            for spec, error in gone.items():
                self._say_to(spec, f"lock left in place: {error.message}", "fail")

    async def plan(self) -> Plan:
        """The rollback's plan after its own checks, failing as it would fail (a lock held,
        a host with nothing to go back to); hosts are only read."""
        await asyncio.gather(*(t.conn.connect() for t in self.targets))
        locks = await asyncio.gather(*(inspect(t.conn, t.paths.app_dir) for t in self.targets))
        for target, lock in zip(self.targets, locks, strict=True):
            if lock is not None:
                raise held(self.environment, target.spec, lock)
        views, hosts = [], await self._read()
        guard, would = await self._schema(hosts, dry_run=True)
        for host in hosts:
            target, to = host.target, Serve.previous(host.before)
            warm = {}
            for name in services_by_kind(self.config, self.roles, target.spec).http:
                prog = self._engine().program(target, name, to)
                warm[name] = await programs.defined_and_running(target, prog)
            views.append(BackView(target.spec, host.before, warm, target.listen))
        keep_warm = self.settings.keep_warm
        plan = build_rollback_plan(
            self.config, self.environment, self.roles, views, keep_warm=keep_warm, batch=self.batch
        )
        if guard is None:
            return plan
        # After the connections and locks: the downgrade runs under the rollback's locks.
        at = max(i + 1 for i, s in enumerate(plan.steps) if s.action in ("connect", "lock"))
        steps = (*plan.steps[:at], guard.step(would), *plan.steps[at:])
        return replace(plan, steps=steps)

    async def _forward(self, guard: schema_guard.Guard | None, hosts: Sequence[HostRun]) -> None:
        before = {h.target.spec: h.before for h in hosts}
        await schema_guard.forward_again(guard, self.config, self.targets, before, self.emit)

    async def _schema(
        self, hosts: Sequence[HostRun], *, dry_run: bool = False
    ) -> tuple[schema_guard.Guard | None, str]:
        """The database's schema before any switch (deploy/schema_guard.py): refused, or a
        downgrade first, where the release going back was never seen working with it; and
        what the dry run's downgrade would run."""
        states = {h.target.spec: h.before for h in hosts}
        guard = await schema_guard.check(
            self.config,
            self.environment,
            self.targets,
            self.roles,
            states,
            downgrade=self.downgrade,
        )
        said = await schema_guard.carry_out(
            guard,
            self.config,
            self.targets,
            self.roles,
            states,
            self.emit,
            dry_run=dry_run,
            accept_loss=self.accept_loss,
        )
        return guard, said

    async def _read(self) -> list[HostRun]:
        """Every host's state; refused, changing nothing, when one has no previous release."""
        states = await asyncio.gather(*(hostops.read_state(t) for t in self.targets))
        return self._going_back(states)

    def _going_back(self, states: Sequence[HostState]) -> list[HostRun]:
        """The hosts with their states; refused, changing nothing, when one has no previous
        release."""
        hosts = [HostRun(t, s) for t, s in zip(self.targets, states, strict=True)]
        stuck = [h.target.spec for h in hosts if h.before.previous_release is None]
        if stuck:
            raise ConveyorError(
                f"{', '.join(stuck)}: no previous release to roll back to; nothing was changed",
                hint=f"deploy a release: conveyor deploy {self.environment} --release ID",
            )
        return hosts

    async def back_one(self, target: Target, state: HostState) -> RolledBack:
        """One host back on its previous release (the caller holds the locks)."""
        host = HostRun(target, state)
        steps = self._steps(host)
        await self._run(host, [s for s in steps if s.action == "ready"])
        began = time.monotonic()
        await self._run(host, [s for s in steps if s.action != "ready"])
        return self._rolled_back(host, began)

    def _steps(self, host: HostRun, *, forward: bool = False) -> list[Step]:
        """The plan's steps for one host: back to its previous release, or (`forward`) to
        what it served before the rollback, with no pending mark (it has one, or is done)."""
        state, spec = host.before, host.target.spec
        to, away = Serve.previous(state), state.colour
        if forward:
            to, away = Serve.current(state), state.previous_colour
        listen = host.target.listen
        record = "restored" if forward else "rolled_back"
        return host_steps(
            self.config,
            self.roles,
            spec,
            to,
            away=away,
            listen=listen,
            mark=not forward,
            record=record,
        )

    async def _all_or_nothing(self, hosts: list[HostRun]) -> list[RolledBack]:
        began = time.monotonic()
        views = [BackView(h.target.spec, h.before, None, h.target.listen) for h in hosts]
        keep_warm = self.settings.keep_warm
        plan = build_rollback_plan(
            self.config, self.environment, self.roles, views, keep_warm=keep_warm, batch=self.batch
        )

        phases = dict(plan.phases())

        async def phase(name: str, among: Sequence[HostRun] = hosts) -> dict[str, str]:
            async def one(host: HostRun) -> None:
                spec = host.target.spec
                await self._run(host, [s for s in phases.get(name, []) if s.host == spec])

            return await _each(among, one)

        failed = await phase("ready")
        if failed:
            # Nothing switched: every host as it was (cold starts stopped, warm ones retired).
            await _each(hosts, self._as_it_was)
            raise RollbackFailed(
                _failures(failed) + "; nothing was switched: every host still serves its release",
                hint=f"conveyor status {self.environment} shows what each host runs",
            )
        for host in hosts:
            how = "warm" if host.warm else "started cold and healthy"
            to = Serve.previous(host.before)
            self._say(host.target, f"{to.colour} colour runs {to.release} ({how})")
        groups = batches(hosts, self.batch)
        for number, group in enumerate(groups, start=1):
            if self.lost:  # another deploy or a recovery owns a host now
                failed = {"lock": self.lost[0].message}
                break
            if len(groups) > 1:
                names = ", ".join(h.target.spec for h in group)
                self.emit(Event(None, "batch", "info", f"batch {number} of {len(groups)}: {names}"))
            if failed := await phase("switch", group):
                break  # the hosts of the later batches were never touched
        if not failed:
            done = [self._rolled_back(h, began) for h in hosts]
            # The colour each host left stays warm for keep_previous_warm, then stops; a host
            # where that cannot be arranged is reported, not rolled forward.
            failures = await phase("retire")
            for host in hosts:
                why = failures.get(host.target.spec)
                if why is None or not retire_unfinished(host, phases.get("retire", [])):
                    continue  # retired (an unlock that failed alone: the run gives it back)
                said = f"the colour it left keeps running: {why}"
                self.emit(Event(host.target.spec, "retire", "fail", said))
            self._unlocked |= {h.target.spec for h in hosts if h.unlocked}
            return done
        # All or nothing: the hosts that went back go forward again.
        undo = [h for h in hosts if h.touched]
        for host in undo:
            self._say(host.target, f"forward again to {host.before.release}", "info")
        left = await _each(undo, self._forward_again)
        await _each([h for h in hosts if h.target.spec not in left], self._as_it_was)
        message = _failures(failed)
        if left:
            raise RollbackFailed(
                f"{message}; could not put back {_failures(left)}",
                hint="their state.json still says where the rollback took them, and its record "
                f"stays running: conveyor recover {self.environment} finishes it",
                left=tuple(left),
            )
        releases = ", ".join(sorted({h.before.release or "nothing" for h in hosts}))
        raise RollbackFailed(f"{message}; every host serves {releases} again, as before")

    def _rolled_back(self, host: HostRun, began: float) -> RolledBack:
        to = Serve.previous(host.before)
        how = "switched to the warm" if host.warm else "restarted the cold"
        self._say(host.target, f"{how} {to.colour} colour: {to.release} (traffic back)")
        seconds = (host.back_at or time.monotonic()) - began
        version = host.before.previous_version or ""
        return RolledBack(host.target.spec, to.release, host.warm, seconds, version)

    async def _run(self, host: HostRun, steps: Sequence[Step]) -> None:
        """Carry out one host's steps in the plan's order; the first failure is raised."""
        await self._engine().do_all(host, steps)

    async def _as_it_was(self, host: HostRun) -> None:
        """After a rollback that did not happen: stop what it started cold, and stop the warm
        previous colour when its warm time ends, as the deploy had arranged (warm-up called
        that off)."""
        target, before = host.target, host.before
        for name in host.cold:
            await programs.stop(target, name)
        colour, until = before.previous_colour, before.warm_until
        http = services_by_kind(self.config, self.roles, target.spec).http
        if colour is not None and until is not None and until > time.time() and http:
            names = [program_name(name, colour) for name in http]
            await programs.schedule_retire(target, colour, names, until - time.time())

    async def _forward_again(self, host: HostRun) -> None:
        """Undo one host's rollback: the plan of what it served before, then that state."""
        await self._run(host, self._steps(host, forward=True))
        self._say(host.target, f"serves {host.before.release} again, as before the rollback")

    def _engine(self) -> Engine:
        engine = Engine(self.config, self.roles, self.deploy_id, self.settings, self.emit)
        engine.voice = "rollback"
        return engine

    def _say(self, target: Target, message: str, status: str = "ok") -> None:
        self._say_to(target.spec, message, status)

    def _say_to(self, spec: str, message: str, status: str = "ok") -> None:
        self.emit(Event(spec, "rollback", status, message))


async def _each(
    hosts: Sequence[HostRun], work: Callable[[HostRun], Awaitable[object]]
) -> dict[str, str]:
    """Run `work` on every host at once; returns why it failed, by host (every host is tried)."""
    results = await asyncio.gather(*(work(h) for h in hosts), return_exceptions=True)
    failed: dict[str, str] = {}
    for host, result in zip(hosts, results, strict=True):
        if isinstance(result, ConveyorError):
            failed[host.target.spec] = result.message.removeprefix(f"{host.target.spec}: ")
        elif isinstance(result, Exception):
            # Not foreseen, but still this host's failure: the others must be put right.
            failed[host.target.spec] = f"{type(result).__name__}: {result}"
        elif isinstance(result, BaseException):
            raise result  # an interruption (Ctrl-C, cancellation)
    return failed


def _failures(failed: dict[str, str]) -> str:
    return "; ".join(f"{host}: {why}" for host, why in failed.items())
