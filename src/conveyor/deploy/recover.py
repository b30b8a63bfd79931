"""After conveyor itself died mid-deploy: bring every host to one consistent release.

`conveyor.deploy.interrupted` reads what the interrupted deploy left and decides
FORWARD or BACK; `Recovery` here is the part that acts on the hosts, and
`recover` / `recover_before_deploy` record it in the history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from conveyor.deploy import files, hostops, programs
from conveyor.deploy.events import Emit, Event
from conveyor.deploy.health import Settings, gate
from conveyor.deploy.hostops import Target, program_name
from conveyor.deploy.interrupted import (
    Interrupted,
    Recovered,
    Seen,
    all_switched,
    decide,
    describe,
    find_interrupted,
    interrupted_message,
    live_locks,
    pending_cleared,
    program_release,
    running_step,
    should_stop_idle,
    summary,
)
from conveyor.deploy.layout import (
    ports,
    services_by_kind,
    services_on,
    syncs_on,
)
from conveyor.deploy.lock import (
    LockOwner,
    acquire,
    heartbeats,
    inspect,
    release,
)
from conveyor.deploy.observe import observe, observe_all
from conveyor.deploy.rollback import Rollback
from conveyor.deploy.state import Colour, HostState
from conveyor.errors import ConveyorError, LockHeld
from conveyor.project.model import ConveyorConfig, ServiceConfig

if TYPE_CHECKING:
    from conveyor.deploy.preflight import Access
    from conveyor.history.store import HistoryStore
    from conveyor.project.load import Project


# ---- acting on the hosts -------------------------------------------------------------------

RECORD_KIND = "recover"


@dataclass
class Recovery:
    """Puts the hosts an interrupted deploy touched on one release, forward or back."""

    config: ConveyorConfig
    environment: str
    targets: Sequence[Target]
    roles: dict[str, list[str]]
    recover_id: str
    settings: Settings
    emit: Emit

    async def healthy(self, target: Target, state: HostState) -> bool:
        """Caddy routes every web service to the state's colour and it answers there now."""
        if state.colour is None:
            return False
        seen = await observe(target, self.config, self.roles, interval=self.settings.probe_interval)
        return all(
            seen.routes[name] == ports(self.config, name)[state.colour] and seen.answering[name]
            for name in seen.routes
        )

    async def forward(self, target: Target, state: HostState) -> str:
        """Finish a switched host as the deploy would have: current, then retire the old colour."""
        assert state.release is not None
        await hostops.link_current(target, state.release)
        old = state.previous_colour
        http = services_by_kind(self.config, self.roles, target.spec).http
        names = [program_name(name, old) for name in http] if old else []
        if old and names and self.settings.keep_warm > 0:
            await programs.schedule_retire(target, old, names, self.settings.keep_warm)
        else:
            for name in names:
                await programs.stop(target, name)
        self._say(target, "ok", f"finished forward: serves {state.release} on {state.colour}")
        return state.release

    async def back(self, target: Target, state: HostState, interrupted: Interrupted) -> str:
        """Put one host back on what it served before the interrupted deploy.

        Every step is tried; what could not be done is raised at the end, after the
        interrupted release's idle programs are stopped. The caller reads the host back.
        """
        keep: set[str | None] = {state.release, state.previous_release}
        problems: list[str] = []
        if state.pending_release is not None:
            state, problems = await self._back_pending(target, state)
            keep = {state.release, state.previous_release}
        elif state.deploy_id == interrupted.deploy_id and state.release == interrupted.release:
            if state.previous_release is None:
                raise ConveyorError(
                    f"{target.spec}: serves {state.release} from the interrupted deploy and has "
                    "no previous release to go back to; it was left as it is",
                    hint=f"finish the deploy instead: conveyor deploy {self.environment}",
                )
            rollback = Rollback(
                config=self.config,
                environment=self.environment,
                targets=self.targets,
                roles=self.roles,
                deploy_id=self.recover_id,
                settings=self.settings,
                emit=self.emit,
            )
            # The rollback's per-host switch (warm colour, or a cold restart); we hold the locks.
            await rollback.back_one(target, state)
            state = await hostops.read_state(target)
            keep = {state.release}
        await self._stop_idle(target, state, interrupted.release, keep)
        if problems:
            raise ConveyorError(f"{target.spec}: " + "; ".join(problems))
        return state.release or "nothing"

    async def _back_pending(self, target: Target, state: HostState) -> tuple[HostState, list[str]]:
        """The switch may or may not have happened: serve the state's colour again.

        Traffic goes back first (each web colour running and healthy, then Caddy), then the
        workers and singletons. The pending mark is cleared only when everything is back,
        so that `conveyor recover` finds the host again otherwise; returns the problems.
        """
        found = services_by_kind(self.config, self.roles, target.spec)
        problems: list[str] = []

        async def attempt(what: str, work: Awaitable[object]) -> bool:
            try:
                await work
            except ConveyorError as error:
                problems.append(f"{what}: {error.message.splitlines()[0]}")
                self._say(target, "fail", f"{what}: {error.message}")
                return False
            return True

        if state.colour is not None:
            for name, service in found.http.items():
                if not await attempt(name, self._ensure(target, state, name, service)):
                    continue  # never route traffic to a colour that does not run
                port = ports(self.config, name)[state.colour]
                listen = target.listen_for(name, service)
                if await attempt(f"Caddy of {name}", _route(target, name, listen, port)):
                    self._say(target, "ok", f"Caddy on {listen} routes to {state.colour} ({port})")
            # A singleton may already have changed over: the new one stops before the old starts.
            for name in found.singletons:
                await programs.stop(target, program_name(name, state.idle_colour))
            for name, service in {**found.workers, **found.singletons}.items():
                await attempt(name, self._ensure(target, state, name, service))
        # The interrupted switch may have synced the new release's files already.
        if state.release is not None and state.venv is not None:
            for name, service in syncs_on(self.config, self.roles, target.spec).items():
                putting = files.put_files(
                    target, service, release_id=state.release, venv_key=state.venv, missing_ok=True
                )
                try:
                    for said in await putting:
                        self._say(target, "ok", f"{name}: {said}")
                except ConveyorError as error:
                    problems.append(f"files of {name}: {error.message.splitlines()[0]}")
        if problems:
            return state, problems
        cleared = pending_cleared(state)
        await hostops.write_state(target, cleared)
        if cleared.release:
            await hostops.link_current(target, cleared.release)
        return cleared, []

    async def _ensure(
        self, target: Target, state: HostState, name: str, service: ServiceConfig
    ) -> None:
        """The state's colour of `name` runs the state's release (started and gated if not)."""
        assert state.colour is not None and state.release is not None
        if state.venv is None or service.command is None:
            return
        port = ports(self.config, name)[state.colour]
        current = program_name(name, state.colour)
        if await programs.running(target, current) is not None:
            # One that an earlier recovery left crash-looping (backoff, fatal) starts afresh,
            # not beside supervisor's own retries.
            await programs.stop(target, current)
        prog = await programs.ensure_started(
            target,
            self.config,
            name,
            colour=state.colour,
            release_id=state.release,
            version=state.version or state.release,
            venv_key=state.venv,
        )
        if prog is None:
            return
        self._say(target, "ok", f"started {prog.name} ({state.release}) again")
        if service.resolved_kind == "http" and service.health:
            result = await gate(target, prog.name, port, service.health, self.settings)
            if not result.healthy:
                raise ConveyorError(
                    f"{target.spec}: {prog.name} ({state.release}) is not healthy: {result.reason}"
                )

    async def _stop_idle(
        self, target: Target, state: HostState, release: str | None, keep: set[str | None]
    ) -> None:
        """Stop the idle colour's programs that run the interrupted release (never `keep`)."""
        if state.colour is None and state.release is None:
            colours: tuple[Colour, ...] = ("blue", "green")  # nothing serves: both are idle
        else:
            colours = (state.idle_colour,)
        for name in services_on(self.config, self.roles, target.spec):
            for colour in colours:
                prog = program_name(name, colour)
                try:
                    text = await target.conn.get(target.runtime.program_path(prog))
                except FileNotFoundError:
                    continue
                runs = program_release(text.decode("utf-8", "replace"))
                if should_stop_idle(runs, interrupted_release=release, keep=keep):
                    await programs.stop(target, prog)
                    self._say(target, "ok", f"stopped {prog} (it ran {runs})")

    def _say(self, target: Target, status: str, message: str) -> None:
        self.emit(Event(target.spec, "recover", status, message))


# ---- from a project to a recorded recovery -----------------------------------------------


class RecoveryFailed(ConveyorError):
    """A host could not be brought to the environment's consistent release."""


def recover(
    project: Project, environment: str, *, access: Access | None = None, emit: Emit
) -> Recovered:
    """Find an interrupted deploy on the environment's hosts and finish it forward or back.

    Raises LockHeld while a deploy is running (its lock is live): nothing is changed then.
    """
    from conveyor.deploy.preflight import Access, targets_for

    targets, roles = targets_for(project, environment, access or Access())
    work = _recover(project, environment, targets, roles, emit)
    found = asyncio.run(hostops.closing(work, targets))
    assert found is not None
    return found


async def recover_before_deploy(
    project: Project,
    environment: str,
    targets: Sequence[Target],
    roles: dict[str, list[str]],
    emit: Emit,
    *,
    limited: bool = False,
) -> str | None:
    """Before a deploy, on its own connections: None when nothing was interrupted (or a
    deploy is running: its lock will say so), else recover first and say what was done.

    Hosts that cannot be reached are left to the deploy, which reports them. A deploy
    limited by --role/--host sees only part of the environment: it refuses instead, since
    only `conveyor recover` looks at every host.
    """

    async def reachable(target: Target) -> bool:
        try:
            await target.conn.connect()
        except ConveyorError:
            return False
        return True

    up = await asyncio.gather(*(reachable(t) for t in targets))
    hosts = [t for t, ok in zip(targets, up, strict=True) if ok]
    found = await _recover(
        project, environment, hosts, roles, emit, quiet_if_busy=True, act=not limited
    )
    if found is None or found.interrupted is None:
        return None
    if limited:
        raise RecoveryFailed(
            f"{describe(found.interrupted, environment)}; nothing was deployed",
            hint=f"run conveyor recover {environment} (it looks at every host), then deploy",
        )
    if found.failed:
        raise RecoveryFailed(
            found.message + "; nothing was deployed",
            hint=f"see conveyor status {environment}, then run conveyor recover {environment}",
        )
    return found.message


async def _recover(
    project: Project,
    environment: str,
    targets: Sequence[Target],
    roles: dict[str, list[str]],
    emit: Emit,
    *,
    quiet_if_busy: bool = False,
    act: bool = True,
) -> Recovered | None:
    """Find what an interrupted deploy left on `targets` and (`act`) put it right, recorded."""
    from conveyor.deploy.preflight import settings_for
    from conveyor.deploy.run import open_record, recording
    from conveyor.history.store import HistoryStore

    await asyncio.gather(*(t.conn.connect() for t in targets))
    seen = await asyncio.gather(*(_look(t) for t in targets))
    busy = live_locks(seen)
    if busy:
        if quiet_if_busy:
            return None
        first = busy[0]
        assert first.lock is not None
        raise LockHeld(
            f"{environment} has a deploy running: locked on "
            f"{', '.join(s.host for s in busy)} by {first.lock.describe()}; nothing was changed",
            hint=f"wait for it (conveyor status {environment}); recovery is for a deploy that "
            "stopped",
        )
    with HistoryStore.for_project(project.root) as history:
        interrupted = _interrupted(seen, history)
    if interrupted is None:
        serving = {s.host: s.state.release or "nothing" for s in seen}
        message = f"nothing to recover: {environment} is consistent ({summary(serving)})"
        return Recovered(environment, None, None, None, serving, message=message)
    if not act:
        return Recovered(environment, None, interrupted, None)
    store, recover_id = open_record(
        project,
        environment,
        kind=RECORD_KIND,
        hosts=list(interrupted.targeted),
        release=interrupted.release or "",
        version="",
    )
    job = Recovery(
        config=project.config,
        environment=environment,
        targets=targets,
        roles=roles,
        recover_id=recover_id,
        settings=settings_for(project, environment),
        emit=recording(store, recover_id, emit),
    )
    job.emit(Event(None, "recover", "start", describe(interrupted, environment)))
    try:
        result = await _locked(job, seen, interrupted)
    except BaseException as error:
        store.finish(recover_id, status="failed", message=f"recovery stopped: {error}")
        store.close()
        raise
    if not result.failed:  # else it stays "running", for the next `conveyor recover`
        _finish_interrupted(store, interrupted, recover_id)
    status = "failed" if result.failed else "succeeded"
    store.finish(recover_id, status=status, message=result.message)
    store.close()
    return result


async def _look(target: Target) -> Seen:
    state = await hostops.read_state(target)
    return Seen(target.spec, state, await inspect(target.conn, target.paths.app_dir))


def _interrupted(seen: Sequence[Seen], history: HistoryStore) -> Interrupted | None:
    def record(deploy_id: str) -> tuple[str, tuple[str, ...]] | None:
        try:
            found = history.get(deploy_id)
        except ConveyorError:
            return None
        return found.status, found.hosts

    def unfinished(deploy_id: str) -> bool:
        found = record(deploy_id)
        return found is not None and found[0] == "running"

    first = find_interrupted(seen, unfinished=unfinished)
    if first is None or first.deploy_id is None:
        return first
    known = record(first.deploy_id)
    planned = {first.deploy_id: known[1]} if known else {}
    return find_interrupted(seen, unfinished=unfinished, planned=planned)


async def _locked(job: Recovery, seen: Sequence[Seen], interrupted: Interrupted) -> Recovered:
    """Take every host's lock (stale ones over), recover, give the locks back."""
    owner = LockOwner.here(job.recover_id)
    by_host = {s.host: s for s in seen}
    taken: list[Target] = []
    try:
        for target in sorted(job.targets, key=lambda t: t.spec):
            lock = by_host[target.spec].lock
            await acquire(
                target.conn,
                target.paths.app_dir,
                owner,
                environment=job.environment,
                take_stale=lock,
            )
            taken.append(target)
        held = [(t.conn, t.paths.app_dir) for t in taken]
        async with heartbeats(held, job.recover_id):
            return await _act(job, seen, interrupted)
    finally:
        for target in taken:
            await release(target.conn, target.paths.app_dir, job.recover_id)


async def _act(job: Recovery, seen: Sequence[Seen], interrupted: Interrupted) -> Recovered:
    targets = {t.spec: t for t in job.targets}
    states = {s.host: s.state for s in seen}
    healthy: dict[str, bool] = {}
    if all_switched(interrupted):
        for host in interrupted.targeted:
            healthy[host] = await job.healthy(targets[host], states[host])
    direction = decide(interrupted, seen, healthy)
    failed: dict[str, str] = {}
    for host in interrupted.targeted:
        try:
            if direction == "forward":
                await job.forward(targets[host], states[host])
            else:
                await job.back(targets[host], states[host], interrupted)
        except ConveyorError as error:
            failed[host] = error.message.removeprefix(f"{host}: ")
            job.emit(Event(host, "recover", "fail", error.message))
    # The report is what the hosts show now, read back, not what the steps above assumed.
    touched = [targets[h] for h in interrupted.targeted]
    observed = await observe_all(touched, job.config, job.roles)
    serving = {host: state.release or "nothing" for host, state in states.items()}
    for host, found in observed.items():
        if isinstance(found, str):
            serving[host] = "unknown"
            failed[host] = "; ".join(filter(None, [failed.get(host), found]))
            continue
        serving[host] = found.serving()
        problems = found.problems(job.config)
        if problems:
            # What the steps ran into says why; what the host shows says what is left.
            failed[host] = "; ".join(filter(None, [failed.get(host), *problems]))
        else:
            failed.pop(host, None)
            said = f"serves {serving[host]} ({found.state.colour or 'no colour'}), read back"
            job.emit(Event(host, "recover", "ok", said))
    how = "finished it forward" if direction == "forward" else "went back"
    name = interrupted.deploy_id or "with no owner record"
    if failed:
        message = f"{job.environment} from interrupted deploy {name} ({how}): "
        message += "; ".join(f"{host}: {why}" for host, why in failed.items())
        message += f"; read back: {summary(serving)}"
    else:
        message = f"recovered {job.environment} from interrupted deploy {name}: {how}; "
        message += summary(serving)
    job.emit(Event(None, "recover", "fail" if failed else "ok", message))
    return Recovered(
        job.environment, job.recover_id, interrupted, direction, serving, failed, message
    )


async def _route(target: Target, name: str, listen: str, port: int) -> None:
    """Caddy of `name` routes to `port`: started that way, or switched."""
    if not await hostops.ensure_proxy(target, name, listen=listen, port=port):
        await hostops.switch(target, name, port)


def _finish_interrupted(store: HistoryStore, interrupted: Interrupted, recover_id: str) -> None:
    """The interrupted deploy's own record, still "running" here, is finished as failed."""
    if interrupted.deploy_id is None:
        return
    try:
        record = store.get(interrupted.deploy_id)
    except ConveyorError:
        return  # started on another machine: its record is in that machine's history
    if record.status != "running":
        return
    store.finish(
        record.id,
        status="failed",
        message=interrupted_message(running_step(store.events(record.id)), recover_id),
    )
