"""A deploy's new colour on one host: every web and worker program started at once, gated."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from conveyor.deploy import programs, startgate
from conveyor.deploy.health import gate
from conveyor.deploy.hostops import program_name
from conveyor.deploy.journal import PROGRAMS, HostRun, Undo
from conveyor.deploy.layout import ports, services_by_kind
from conveyor.deploy.plan import Op
from conveyor.deploy.programs import Launched
from conveyor.deploy.serve import Serve
from conveyor.errors import DeployFailed, StartFailed

if TYPE_CHECKING:
    from conveyor.deploy.engine import Engine


async def launch(engine: Engine, host: HostRun, to: Serve) -> None:
    """Start every web and worker program of the new colour at once, then gate them: the
    web ones probed directly while supervisor waits out `startsecs`, every one watched
    until the gates pass and at least SETTLE seconds after their start (one that exits,
    restarts or loses its workers ends it)."""
    target = host.target
    found = services_by_kind(engine.config, engine.roles, target.spec)
    progs = [engine.program(target, name, to) for name in [*found.http, *found.workers]]
    for prog, name in zip(progs, [*found.http, *found.workers], strict=True):
        # A worker listens on nothing: its $PORT is reserved, not served.
        where = f" on port {ports(engine.config, name)[to.colour]}" if name in found.http else ""
        engine.say(target, "start", "start", f"starting {prog.name}{where}")
    for prog in progs:
        host.journal.append(Undo(PROGRAMS, Op("stop", program=prog.name)))
    # A stop scheduled for this colour by the previous deploy must not hit the new release;
    # a warm old process on these ports stops here. A round trip of its own: the probes that
    # begin with the start can reach nothing but the new release.
    await programs.define(target, *progs, cancel=[programs.retire_name(to.colour)])
    launching = asyncio.ensure_future(programs.launch(target, *progs))
    spawned = asyncio.ensure_future(_pids(launching))

    async def gates() -> None:
        for name, service in found.http.items():
            assert service.health is not None
            port = ports(engine.config, name)[to.colour]
            prog = program_name(name, to.colour)
            result = await gate(target, prog, port, service.health, engine.settings, spawned)
            engine.health(target, prog, result)

    gating = asyncio.ensure_future(gates())
    try:
        # Shielded: a start cut short could still start a program after the undo stopped it.
        launched = await asyncio.shield(launching)
    except BaseException as error:
        gating.cancel()
        await asyncio.gather(launching, spawned, gating, return_exceptions=True)
        if not isinstance(error, StartFailed):
            raise
        message, cause = await startgate.failed_start(target, error)
        raise DeployFailed(message, cause=cause) from None
    # The settle counts from the programs' start on the host, as the start script tells it.
    since = asyncio.get_running_loop().time() - launched.ago
    deadline = engine.settings.health_timeout + 5
    crash = await startgate.watch_while(
        target, launched.pids, gating, deadline=deadline, since=since
    )
    if crash is not None:
        engine.say(target, "health", "fail", crash.reason())
        raise DeployFailed(crash.message(target.spec), cause=f"{crash.reason()}\n{crash.log}")


async def _pids(launching: asyncio.Future[Launched]) -> dict[str, int]:
    """The started programs' pids, once the start is done (what a gate waits for)."""
    return (await asyncio.shield(launching)).pids
