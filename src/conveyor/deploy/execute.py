"""The deploy executor: runs a deploy's plan, phase by phase, and decides nothing about order.

Connected and locked (the plan lists those steps; the executor takes the locks, reading
every host's state in the same round trip, and gives back any an unlock step did not),
it plans with the function the dry run uses (`deploy/planner.py`), then runs the plan's
phases in order: a phase's steps run on every host still in the deploy at once, each
host's in the plan's order (`deploy/engine.py` carries each one out).
What a failure does is read from the phase here, in one place: a host that fails
is put back alone from its undo journal when `max_failures` allows; otherwise
every host plays its journal back and the deploy ends rolled back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from conveyor.deploy import hostops
from conveyor.deploy.engine import Engine
from conveyor.deploy.events import Emit, Event
from conveyor.deploy.health import Settings
from conveyor.deploy.hostops import Target
from conveyor.deploy.journal import HostRun
from conveyor.deploy.lock import (
    LockLost,
    LockOwner,
    StaleLock,
    acquire,
    heartbeats,
    release_all,
    take_all,
)
from conveyor.deploy.observe import already_live
from conveyor.deploy.outcome import (
    Outcome,
    RecoverFirst,
    Release,
    first_failures,
    stops_deploy,
    undone,
)
from conveyor.deploy.plan import Plan, Step
from conveyor.deploy.state import HostState
from conveyor.deploy.together import retire_unfinished
from conveyor.errors import ConveyorError, DeployFailed
from conveyor.hosts.base import Connector
from conveyor.migrations.lint import Verdicts
from conveyor.project.model import ConveyorConfig

# Putting one host back (switch, stops, state) never takes longer than this.
RESTORE_DEADLINE = 120.0
# Phases whose steps send files or build venvs: `concurrency` hosts at a time.
BOUNDED = frozenset({"prepare", "upload", "venv"})
# A failure in these phases cancels the other hosts' work at once (their health gates).
FAIL_FAST = frozenset({"start"})
# Once the deploy succeeded, a failure here is reported, not undone.
REPORTED = frozenset({"retire"})

Planner = Callable[[Mapping[str, HostState | str]], Plan]
__all__ = ["Executor", "Outcome", "Planner", "RecoverFirst", "Release", "stops_deploy"]


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
    planner: Planner  # the hosts' states -> the plan; the dry run plans with it too
    # Each host's state as a saved plan saw it: one that differs once locked stops the deploy.
    expect: Mapping[str, object] | None = None
    # Whether the locked hosts' states show an interrupted deploy (deploy/recover.py).
    interrupted: Callable[[Mapping[str, HostState]], bool] | None = None
    lint: Verdicts = field(default_factory=Verdicts)  # the migrations' lint, for their step
    _runs: dict[str, HostRun] = field(default_factory=dict)  # hosts whose new colour started
    _active: list[Target] = field(default_factory=list)  # hosts still in this deploy
    _failed: dict[str, str] = field(default_factory=dict)  # hosts left out (tolerated): why
    _lost: list[LockLost] = field(default_factory=list)  # locks someone else took meanwhile
    _ran: list[Step] = field(default_factory=list)
    _skipped: dict[str, HostState] = field(default_factory=dict)  # already live: left as is
    _read: dict[str, str | None] = field(default_factory=dict)  # state.json read when locked
    _unlocked: set[str] = field(default_factory=set)  # given back by the plan's unlock steps

    def __post_init__(self) -> None:
        # A copy (dataclasses.replace, after RecoverFirst) starts afresh, sharing nothing.
        self._runs, self._active, self._failed, self._lost = {}, list(self.targets), {}, []
        self._ran, self._skipped, self._read, self._unlocked = [], {}, {}, set()

    async def run(self) -> Outcome:
        """The whole deploy; never leaves a host half-switched. RecoverFirst, every lock given
        back, when a lock is stale or `interrupted` says the hosts' states need recovery."""
        await self._each("connect", hostops.connect)
        owner = LockOwner.here(self.deploy_id)
        locked: list[Target] = []
        held: list[tuple[Connector, str]] = []  # the heartbeat refreshes these while we run
        try:
            async with heartbeats(held, self.deploy_id) as self._lost:

                async def take(target: Target) -> None:
                    self._read[target.spec] = await acquire(
                        target.conn,
                        target.paths.app_dir,
                        owner,
                        environment=self.environment,
                        read=target.paths.state,  # once locked, in the same round trip
                    )
                    locked.append(target)
                    held.append((target.conn, target.paths.app_dir))

                # In one order everywhere until the first lock is taken: of two deploys
                # started at once, one stops at the first host; then the others at once.
                ordered = sorted(self._active, key=lambda t: t.spec)
                try:
                    failed = await take_all(ordered, take)
                except StaleLock:
                    if self.interrupted is None:
                        raise
                    raise RecoverFirst from None  # the deploy that held it stopped
                if self.interrupted is not None and self.interrupted(self._states(locked)):
                    raise RecoverFirst
                for index, error in failed.items():
                    await self._drop(ordered[index], "lock", error)
                count = len(locked)
                self._say(None, "lock", "ok", f"locked {self.environment} on {count} host(s)")
                return await self._deploy()
        finally:
            left = [(t.conn, t.paths.app_dir) for t in locked if t.spec not in self._unlocked]
            gone = await release_all(left, self.deploy_id)
            for spec, error in gone.items():
                self._say(spec, "unlock", "fail", f"lock left in place: {error.message}")

    def _states(self, targets: Sequence[Target]) -> dict[str, HostState]:
        return {t.spec: hostops.state_from(t, self._read.get(t.spec)) for t in targets}

    async def _deploy(self) -> Outcome:
        states = self._states(self._active)
        if self.expect is not None:
            changed = [t for t in self._active if asdict(states[t.spec]) != self.expect.get(t.spec)]
            if changed:
                names = ", ".join(t.spec for t in changed)
                raise ConveyorError(
                    f"{names}: not as the saved plan saw it (a deploy since?); nothing was changed",
                    hint=f"make a new plan: conveyor deploy {self.environment} --plan-out FILE",
                )
        plan = self.planner(dict(states))
        engine = Engine(self.config, self.roles, self.deploy_id, self.settings, self.emit)
        engine.release_path, engine.env_text = self.release.path, self.env_text
        engine.lint = self.lint
        return await self.play(plan, states, engine)

    async def play(self, plan: Plan, states: Mapping[str, HostState], engine: Engine) -> Outcome:
        """Run `plan`'s phases, each step through `engine`; a failure acts as its phase says."""
        runs = {t.spec: HostRun(t, states[t.spec]) for t in self._active}
        phases = plan.phases()
        try:
            for phase, steps in phases:
                if phase in REPORTED:
                    continue
                if phase == "live":
                    unchanged = await already_live(
                        self.config,
                        self.roles,
                        self._active,
                        states,
                        self.release.id,
                        self.env_text,
                    )
                    if not self._failed and unchanged == {t.spec for t in self._active}:
                        return self._nothing_to_do(plan, states)
                    self._skip(unchanged, states)
                    continue
                if phase == "start":  # from here on, undo knows what each host started
                    self._runs = {s: r for s, r in runs.items() if s not in self._skipped}
                await self._phase(engine, phase, steps, runs)
        except (DeployFailed, ConveyorError) as error:
            cause = error.cause if isinstance(error, DeployFailed) else str(error)
            return await self._undo(engine, plan, error.message, cause, error.hint)
        except BaseException as error:
            # A bug or an interruption: still put every host back before it propagates.
            with contextlib.suppress(Exception):
                await asyncio.shield(
                    self._undo(engine, plan, f"interrupted ({type(error).__name__})", repr(error))
                )
            raise
        for phase, steps in phases:
            if phase in REPORTED:
                await self._phase(engine, phase, steps, runs)
        live = {**self._skipped, **{s: r.after for s, r in self._runs.items() if r.after}}
        message = (
            f"{self.environment} now runs {self.release.version} ({self.release.id}) "
            f"on {len(live)} host(s)"
        )
        if self._skipped:
            message += f" ({len(self._skipped)} already ran it with these values)"
        if self._failed:
            message += f"; {len(self._failed)} host(s) failed and stay on their previous release: "
            message += ", ".join(sorted(self._failed))
        self._say(None, "deploy", "ok", message)
        return Outcome(
            "succeeded",
            message,
            states=live,
            left_out=dict(self._failed),
            plan=plan,
            ran=self._done(),
        )

    async def _phase(
        self, engine: Engine, phase: str, steps: Sequence[Step], runs: Mapping[str, HostRun]
    ) -> None:
        """One phase: its whole-environment steps, then every host's steps at once."""
        for step in (s for s in steps if s.host == "*"):
            if step.action == "batch":
                if self._lost:
                    raise self._lost[0]  # another deploy or a recovery owns a host now
                self._say(None, "batch", "info", step.description.split(" (")[0])
            elif step.action == "watch":
                self._say(None, "watch", "start", f"watching for {self.settings.watch:g}s")
                await self._each("watch", engine.watch)
            self._ran.append(step)
        if phase == "finish" and self._lost:
            raise self._lost[0]  # the old workers' drains and the records wait for nobody's lock
        active = {t.spec for t in self._active}
        # A host max_failures let go is on its previous release: it gets no more steps.
        mine = [s for s in steps if s.host != "*" and s.host in active]
        if phase == "once":  # migrations, then the release command: one after the other
            planned = [s for s in steps if s.host != "*"]
            for step in planned:  # a host left as it is (already live) runs its part too
                if step.host not in active and step.host not in self._skipped:
                    raise ConveyorError(
                        f"{step.host} left the deploy before its {step.action} step; "
                        "nothing was switched"
                    )
                await engine.do(runs[step.host], step)
            return
        by_host = {s.host for s in mine}
        if not by_host:
            return
        if phase in BOUNDED:
            hosts = sum(1 for t in self._active if t.spec in by_host)
            self._say(None, phase, "start", f"{phase} on {hosts} host(s)")

        async def one(target: Target) -> None:
            await engine.do_all(runs[target.spec], [s for s in mine if s.host == target.spec])

        if phase in REPORTED:
            each = [self._reported(engine, runs[spec], mine) for spec in dict.fromkeys(by_host)]
            await asyncio.gather(*each)
            return
        await self._each(
            phase,
            one,
            only=[t for t in self._active if t.spec in by_host],
            bounded=phase in BOUNDED,
            fail_fast=phase in FAIL_FAST,
            engine=engine,
        )

    async def _reported(self, engine: Engine, host: HostRun, steps: Sequence[Step]) -> None:
        """A host's steps after the deploy succeeded (the old colour's retirement, its lock
        given back): one that fails is reported, not undone (a lock is given back at the end)."""
        spec = host.target.spec
        mine = [s for s in steps if s.host == spec]
        try:
            await engine.do_all(host, mine)
        except ConveyorError as error:
            if retire_unfinished(host, mine):
                self._say(spec, "retire", "fail", f"the old colour keeps running: {error.message}")
        if host.unlocked:
            self._unlocked.add(spec)

    def _skip(self, live: set[str], states: Mapping[str, HostState]) -> None:
        """Hosts that already serve the release with these values are left as they are."""
        for target in [t for t in self._active if t.spec in live]:
            self._active.remove(target)
            self._skipped[target.spec] = states[target.spec]
            said = f"already runs {self.release.version} with these values: left as it is"
            self.emit(Event(target.spec, "live", "ok", said, kind="skipped"))

    def _nothing_to_do(self, plan: Plan, states: Mapping[str, HostState]) -> Outcome:
        message = f"{self.environment} already runs {self.release.version} with these values on "
        message += f"{len(self._active)} host(s); nothing to do (--force redeploys)"
        self._say(None, "deploy", "ok", message)
        return Outcome("succeeded", message, states=dict(states), plan=plan)

    async def _undo(
        self, engine: Engine, plan: Plan, message: str, cause: str, hint: str | None = None
    ) -> Outcome:
        """Every host this deploy touched plays its journal back, all at once."""
        runs = list(self._runs.values())
        if runs:  # before any host started the release there is nothing to undo
            said = f"putting back what this deploy started on {len(runs)} host(s)"
            self._say(None, "rollback", "start", said)
        lost: list[str] = []

        async def one(run: HostRun) -> bool:
            # Every host at once: one that cannot be reached must not hold up the others.
            try:
                return await asyncio.wait_for(engine.undo(run), RESTORE_DEADLINE)
            except (ConveyorError, OSError) as error:
                why = error.message if isinstance(error, ConveyorError) else str(error) or "timeout"
                lost.append(run.target.spec)
                self._say(run.target.spec, "rollback", "fail", f"could not put back: {why}")
                return False

        restored = sum(await asyncio.gather(*(one(r) for r in runs)))
        serving = {r.target.spec: r.before for r in runs if r.target.spec not in lost}
        status = "rolled_back" if restored else "failed"
        what = undone(
            self.environment, serving, restored=bool(restored), runs=bool(runs), lost=lost
        )
        text = f"deploy of {self.release.version} to {self.environment} failed: {message}; {what}"
        self._say(None, "deploy", "fail", text)
        return Outcome(
            status,
            text,
            cause=cause,
            hint=hint,
            states=serving,
            left_out=dict(self._failed),
            plan=plan,
            ran=self._done(),
        )

    def _done(self) -> tuple[Step, ...]:
        return (*self._ran, *(s for r in self._runs.values() for s in r.done))

    async def _each(
        self,
        step: str,
        action: Callable[[Target], Awaitable[object]],
        *,
        only: Sequence[Target] | None = None,
        bounded: bool = False,
        fail_fast: bool = False,
        engine: Engine | None = None,
    ) -> None:
        """Run `action` on every host still in the deploy (`only`: those of them) at once
        (`bounded`: `concurrency` at a time); a host that fails is dropped within
        max_failures, else the step fails.

        Every host finishes before a failure is acted on: a host still starting when another
        fails must not start its new colour after the undo has stopped everything.
        `fail_fast`: a failure more than max_failures allows cancels the other hosts' work
        at once (their health gates), and their cancellation is awaited.
        """
        hosts = [t for t in (self._active if only is None else only) if t in self._active]
        limit = asyncio.Semaphore(self.settings.concurrency if bounded else len(hosts) or 1)

        async def one(target: Target) -> None:
            async with limit:
                await action(target)

        tasks = [asyncio.ensure_future(one(t)) for t in hosts]
        if fail_fast:
            await first_failures(tasks, allowed=self.settings.max_failures - len(self._failed))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        # The hosts that failed first: a host cancelled because of them is not a failure.
        failed = [(t, r) for t, r in zip(hosts, results, strict=True) if isinstance(r, Exception)]
        for target, error in failed:
            await self._drop(target, step, error, engine)
        for target, outcome in zip(hosts, results, strict=True):
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                await self._drop(target, step, outcome, engine)

    async def _drop(
        self, target: Target, step: str, error: BaseException, engine: Engine | None = None
    ) -> None:
        """A host failed: leave it on its previous release if max_failures allows, else raise."""
        if not isinstance(error, ConveyorError):
            raise error  # a bug or an interruption, not a host's failure
        self._failed[target.spec] = f"{step}: {error.message.splitlines()[0]}"
        if stops_deploy(len(self._failed), len(self._active) - 1, self.settings.max_failures):
            raise error  # too many, or none would be left: every host goes back
        self._active.remove(target)
        run = self._runs.pop(target.spec, None)
        where = "left on its previous release"
        if run is not None and engine is not None:
            try:
                await asyncio.wait_for(engine.undo(run), RESTORE_DEADLINE)
            except (ConveyorError, OSError):
                where = f"could not be put back: run conveyor recover {self.environment}"
                self._failed[target.spec] += f"; {where}"
        failures, allowed = len(self._failed), self.settings.max_failures
        said = f"{error.message.splitlines()[0]}; {where} ({failures} of max_failures = {allowed})"
        facts = {"failures": failures, "max_failures": allowed}
        self.emit(Event(target.spec, step, "fail", said, kind="dropped", fields=facts))

    def _say(self, host: str | None, step: str, status: str, message: str) -> None:
        self.emit(Event(host, step, status, message))
