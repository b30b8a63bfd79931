"""Rollback, status and unlock for an environment: the glue from project to hosts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from conveyor.deploy import hostops
from conveyor.deploy.execute import Emit, Outcome
from conveyor.deploy.lock import LockOwner, release
from conveyor.deploy.rollback import Rollback, RolledBack
from conveyor.deploy.run import (
    Access,
    deploy,
    open_record,
    recording,
    settings_for,
    targets_for,
)
from conveyor.deploy.state import HostState
from conveyor.errors import ConveyorError
from conveyor.project.load import Project

T = TypeVar("T")


def rollback(
    project: Project,
    environment: str,
    *,
    to: str | None = None,
    access: Access | None = None,
    emit: Emit,
) -> tuple[str, list[RolledBack] | Outcome]:
    """Back to the previous release (a switch when warm), or `to` a named release (a deploy)."""
    if to is not None:
        return deploy(
            project, environment, release_id=to, access=access, emit=emit, kind="rollback"
        )
    targets, roles = targets_for(project, environment, access or Access())
    store, deploy_id = open_record(
        project, environment, kind="rollback", hosts=[t.spec for t in targets], release="previous"
    )
    job = Rollback(
        config=project.config,
        environment=environment,
        targets=targets,
        roles=roles,
        deploy_id=deploy_id,
        settings=settings_for(project, environment),
        emit=recording(store, deploy_id, emit),
    )
    try:
        done = asyncio.run(_closing(job.run(), targets))
    except BaseException as error:
        store.finish(deploy_id, status="failed", message=f"rollback failed: {error}")
        store.close()
        raise
    releases = ", ".join(sorted({r.release for r in done}))
    store.finish(deploy_id, status="succeeded", message=f"{environment} is back on {releases}")
    store.close()
    return deploy_id, done


@dataclass(frozen=True)
class HostStatus:
    """What one host runs, read from the host itself."""

    host: str
    state: HostState | None
    programs: Mapping[str, str]  # program -> state
    error: str | None = None


def status(project: Project, environment: str, *, access: Access | None = None) -> list[HostStatus]:
    """Each host's state.json and its programs' states; unreachable hosts say why."""
    targets, _ = targets_for(project, environment, access or Access())

    async def one(target: hostops.Target) -> HostStatus:
        try:
            await target.conn.connect()
            state = await hostops.read_state(target)
            result = await target.conn.run(target.runtime.status_argv(), check=False)
            parsed = target.runtime.parse_status(result.stdout)
            programs = {name: status.state for name, status in sorted(parsed.items())}
            return HostStatus(target.spec, state, programs)
        except ConveyorError as error:
            return HostStatus(target.spec, None, {}, error=error.message)

    async def all_hosts() -> list[HostStatus]:
        return list(await asyncio.gather(*(one(t) for t in targets)))

    return asyncio.run(_closing(all_hosts(), targets))


def unlock(project: Project, environment: str, *, access: Access | None = None) -> list[str]:
    """Break the environment's lock on every host; returns who held it, per host."""
    targets, _ = targets_for(project, environment, access or Access())

    async def one(target: hostops.Target) -> str:
        await target.conn.connect()
        owner: LockOwner | None = await release(target.conn, target.paths.app_dir, "*")
        held = owner.describe() if owner else "nobody (it was not locked)"
        return f"{target.spec}: lock held by {held} is broken"

    async def all_hosts() -> list[str]:
        return [await one(t) for t in targets]

    return asyncio.run(_closing(all_hosts(), targets))


async def _closing(work: Awaitable[T], targets: Sequence[hostops.Target]) -> T:
    try:
        return await work
    finally:
        for target in targets:
            await target.conn.close()


def age(seconds: float | None) -> str:
    """`3m ago` for a timestamp."""
    if seconds is None:
        return "-"
    delta = max(0, time.time() - seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if delta >= size:
            return f"{int(delta // size)}{unit} ago"
    return f"{int(delta)}s ago"
