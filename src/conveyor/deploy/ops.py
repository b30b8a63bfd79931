"""Rollback, status and unlock for an environment: the glue from project to hosts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from conveyor.deploy import hostops
from conveyor.deploy.events import Emit
from conveyor.deploy.execute import Outcome
from conveyor.deploy.layout import services_on
from conveyor.deploy.lock import LockInfo, heartbeats, inspect, release
from conveyor.deploy.plan import Plan
from conveyor.deploy.preflight import Access, settings_for, targets_for
from conveyor.deploy.rollback import Rollback, RolledBack
from conveyor.deploy.run import deploy, open_record, recording
from conveyor.deploy.state import HostState
from conveyor.errors import ConveyorError, LockHeld, RollbackFailed
from conveyor.project.load import Project


def rollback(
    project: Project,
    environment: str,
    *,
    to: str | None = None,
    access: Access | None = None,
    emit: Emit,
    batch: int = 0,
    downgrade: bool = False,
    accept_loss: str = "",
) -> tuple[str, list[RolledBack] | Outcome]:
    """Back to the previous release (a switch when warm), or `to` a named release (a deploy)."""
    if to is not None:
        from conveyor.gates.flow import no_rollback_to

        no_rollback_to(project, environment, to)
        return deploy(
            project, environment, release_id=to, access=access, emit=emit, kind="rollback"
        )
    targets, roles = targets_for(project, environment, access or Access())
    # The release it goes back to is each host's previous one, known once they are read.
    store, deploy_id = open_record(
        project, environment, kind="rollback", hosts=[t.spec for t in targets], release=""
    )
    job = Rollback(
        config=project.config,
        environment=environment,
        targets=targets,
        roles=roles,
        deploy_id=deploy_id,
        settings=settings_for(project, environment),
        emit=recording(store, deploy_id, emit),
        batch=batch,
        downgrade=downgrade,
        accept_loss=accept_loss,
    )

    async def run() -> list[RolledBack]:
        # An app_dir under "~" is known once its host answers.
        await asyncio.gather(*(t.conn.connect() for t in targets))
        held = [(t.conn, t.paths.app_dir) for t in targets]
        # The rollback takes its locks itself; keep them fresh so none looks stale meanwhile.
        async with heartbeats(held, deploy_id) as lost:
            job.lost = lost  # a later batch does not start once a lock was lost
            return await job.run()

    try:
        done = asyncio.run(hostops.closing(run(), targets))
    except RollbackFailed as error:
        if error.left:  # kept "running", so that `conveyor recover` finds what it left
            store.close()
            raise
        store.finish(deploy_id, status="failed", message=f"rollback failed: {error.message}")
        store.close()
        raise
    except BaseException as error:
        store.finish(deploy_id, status="failed", message=f"rollback failed: {error}")
        store.close()
        raise
    releases = ", ".join(sorted({r.release for r in done}))
    store.finish(
        deploy_id,
        status="succeeded",
        message=f"{environment} is back on {releases}",
        release=releases,
        version=", ".join(sorted({r.version for r in done if r.version})),
    )
    store.close()
    return deploy_id, done


def plan_rollback(
    project: Project,
    environment: str,
    *,
    access: Access | None = None,
    batch: int = 0,
    downgrade: bool = False,
    accept_loss: str = "",
) -> Plan:
    """The rollback's plan (`conveyor rollback --dry-run`); hosts are only read."""
    targets, roles = targets_for(project, environment, access or Access())
    job = Rollback(
        config=project.config,
        environment=environment,
        targets=targets,
        roles=roles,
        deploy_id="dry-run",
        settings=settings_for(project, environment),
        emit=lambda event: None,
        batch=batch,
        downgrade=downgrade,
        accept_loss=accept_loss,
    )
    return asyncio.run(hostops.closing(job.plan(), targets))


@dataclass(frozen=True)
class HostStatus:
    """What one host runs, read from the host itself."""

    host: str
    state: HostState | None
    programs: Mapping[str, str]  # program -> state
    error: str | None = None
    lock: LockInfo | None = None  # who holds the deploy lock, and is it live
    # What should run and does not: "web-blue is exited", "supervisord is not running".
    down: tuple[str, ...] = ()
    # The user's services on this host and the state of their live colour's program.
    services: Mapping[str, str] = field(default_factory=dict)


def interrupted(project: Project, environment: str, hosts: Sequence[HostStatus]) -> str | None:
    """The line `status` shows for an interrupted deploy (never changes a host), or None."""
    from conveyor.deploy.interrupted import Seen, describe, find_interrupted, live_locks
    from conveyor.history.store import HistoryStore

    seen = [Seen(h.host, h.state, h.lock) for h in hosts if h.state is not None]
    if not seen or live_locks(seen):
        return None
    with HistoryStore.for_project(project.root) as history:

        def unfinished(deploy_id: str) -> bool:
            try:
                return history.get(deploy_id).status == "running"
            except ConveyorError:
                return False

        found = find_interrupted(seen, unfinished=unfinished)
    return None if found is None else describe(found, environment)


def status(project: Project, environment: str, *, access: Access | None = None) -> list[HostStatus]:
    """Each host's state.json and its programs' states; unreachable hosts say why."""
    targets, roles = targets_for(project, environment, access or Access())

    async def one(target: hostops.Target) -> HostStatus:
        try:
            await target.conn.connect()
            state = await hostops.read_state(target)
            result = await target.conn.run(target.runtime.status_argv(), check=False)
            parsed = target.runtime.parse_status(result.stdout)
            programs = {name: status.state for name, status in sorted(parsed.items())}
            lock = await inspect(target.conn, target.paths.app_dir)
            expected = _expected(project, roles, target, state)
            if expected and state.stopped_at is not None:
                down: tuple[str, ...] = (
                    f"stopped with conveyor stop {age(state.stopped_at)}; "
                    f"conveyor start {environment} starts it again",
                )
            elif expected and target.runtime.unreachable(result.exit_code):
                down = ("supervisord is not running",)
            else:
                down = tuple(
                    f"{name} is {programs.get(name, 'not defined')}"
                    for name in expected
                    if programs.get(name) != "running"
                )
            # With supervisord gone, every service is as down as its supervisor.
            gone = "stopped" if state.stopped_at else "down"
            unreachable = target.runtime.unreachable(result.exit_code)
            services = {
                name: gone
                if unreachable
                else programs.get(hostops.program_name(name, state.colour), "not defined")
                for name in services_on(project.config, roles, target.spec)
                if state.colour is not None
            }
            return HostStatus(target.spec, state, programs, lock=lock, down=down, services=services)
        except ConveyorError as error:
            return HostStatus(target.spec, None, {}, error=error.message)

    async def all_hosts() -> list[HostStatus]:
        return list(await asyncio.gather(*(one(t) for t in targets)))

    return asyncio.run(hostops.closing(all_hosts(), targets))


def _expected(
    project: Project, roles: Mapping[str, Sequence[str]], target: hostops.Target, state: HostState
) -> list[str]:
    """The programs that should run on a host that serves a release: the live colour of each
    long-running service (http, worker, singleton) and each http service's Caddy."""
    if state.colour is None:
        return []
    names = []
    for name, service in services_on(project.config, roles, target.spec).items():
        names.append(hostops.program_name(name, state.colour))
        if service.resolved_kind == "http":
            names.append(target.proxy(name).program().name)
    return sorted(set(names))


def unlock(
    project: Project, environment: str, *, access: Access | None = None, force: bool = False
) -> list[str]:
    """Break the environment's lock on every host; returns who held it, per host.

    A live lock (its deploy still heartbeats) is refused on every host unless `force`.
    """
    targets, _ = targets_for(project, environment, access or Access())

    async def one(target: hostops.Target, lock: LockInfo | None) -> str:
        if lock is None:
            return f"{target.spec}: not locked"
        await release(target.conn, target.paths.app_dir, "*")
        return f"{target.spec}: lock held by {lock.describe()} is broken"

    async def all_hosts() -> list[str]:
        for target in targets:
            await target.conn.connect()
        locks = [(t.spec, await inspect(t.conn, t.paths.app_dir)) for t in targets]
        live = [(host, lock) for host, lock in locks if lock is not None and not lock.stale]
        if live and not force:
            lock = live[0][1]
            raise LockHeld(
                f"{environment} is locked on {', '.join(h for h, _ in live)} by "
                f"{lock.describe()}: that deploy is running; no lock was broken",
                hint="wait for it; if you are sure its process is gone (its machine is off), "
                f"conveyor unlock {environment} --force; then conveyor recover {environment}",
            )
        if all(lock is None for _, lock in locks):
            raise ConveyorError(
                f"{environment} is not locked on any of its {len(locks)} host(s); "
                "nothing was broken",
                hint=f"conveyor status {environment} shows what each host runs",
            )
        return [await one(t, lock) for t, (_, lock) in zip(targets, locks, strict=True)]

    return asyncio.run(hostops.closing(all_hosts(), targets))


def age(seconds: float | None) -> str:
    """`3m ago` for a timestamp."""
    if seconds is None:
        return "-"
    delta = max(0, time.time() - seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{int(delta // size)}{unit} ago"
    return f"{int(delta)}s ago"
