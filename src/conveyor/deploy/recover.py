"""After conveyor itself died mid-deploy: bring every host to one consistent release.

`conveyor.deploy.interrupted` reads what the interrupted deploy left and decides
FORWARD or BACK; `Recovery` (`deploy/recovery.py`) is the part that acts on the
hosts, and `recover` / `recover_before_deploy` here record it in the history.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING

from conveyor.deploy import hostops
from conveyor.deploy.events import Emit, Event
from conveyor.deploy.hostops import Target
from conveyor.deploy.interrupted import (
    Interrupted,
    Recovered,
    Seen,
    all_switched,
    decide,
    describe,
    finish_interrupted,
    interrupted_in,
    live_locks,
    summary,
)
from conveyor.deploy.lock import (
    LockOwner,
    acquire,
    heartbeats,
    inspect,
    release,
)
from conveyor.deploy.observe import observe_all
from conveyor.deploy.recovery import Recovery
from conveyor.errors import ConveyorError, LockHeld, RecoveryFailed

if TYPE_CHECKING:
    from conveyor.deploy.preflight import Access
    from conveyor.project.load import Project


# ---- acting on the hosts -------------------------------------------------------------------

RECORD_KIND = "recover"


# ---- from a project to a recorded recovery -----------------------------------------------


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
        interrupted = interrupted_in(seen, history)
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
        finish_interrupted(store, interrupted, recover_id)
    status = "failed" if result.failed else "succeeded"
    store.finish(recover_id, status=status, message=result.message)
    store.close()
    return result


async def _look(target: Target) -> Seen:
    # state.json over SFTP first, not with the lock in one script: a host without SFTP is
    # refused here, before anything changes (a deploy needs it later).
    state = await hostops.read_state(target)
    return Seen(target.spec, state, await inspect(target.conn, target.paths.app_dir))


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
