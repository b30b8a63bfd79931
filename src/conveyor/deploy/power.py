"""`conveyor stop ENV` / `conveyor start ENV`: every host's supervisord, its programs and Caddy.

Stop shuts supervisord down, which stops each program with its own stop signal and wait
(a web colour drains, a worker finishes its task), Caddy included, and records
`stopped_at` in state.json. Start boots supervisord again and starts the live colour of
each service on its release, health-gates the web ones, starts Caddy on the live port,
and reads each host back. Both take the deploy lock and are recorded in the history.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from conveyor.deploy import hostops, programs
from conveyor.deploy.events import Emit, Event
from conveyor.deploy.health import gate
from conveyor.deploy.hostops import Target, program_name
from conveyor.deploy.layout import ports, services_by_kind
from conveyor.deploy.lock import LockOwner, acquire, inspect, release
from conveyor.deploy.observe import observe
from conveyor.deploy.preflight import Access, settings_for, targets_for
from conveyor.deploy.run import open_record, recording
from conveyor.errors import ConveyorError, LockHeld
from conveyor.project.load import Project

Action = Literal["stop", "start"]
SHUTDOWN_DEADLINE = 300.0  # seconds: programs drain (stopwaitsecs) before supervisord exits


@dataclass(frozen=True)
class PowerResult:
    """What `stop` or `start` did on each host (read back), and what failed where."""

    action: Action
    record_id: str | None  # None for a dry run
    done: dict[str, str]  # host -> what it shows now
    failed: dict[str, str]  # host -> why


class PowerFailed(ConveyorError):
    """A host could not be stopped or started."""


def power(
    project: Project,
    environment: str,
    action: Action,
    *,
    access: Access | None = None,
    emit: Emit,
    dry_run: bool = False,
) -> PowerResult:
    """Stop or start every host of the environment; `dry_run` checks the same and changes
    nothing."""
    targets, roles = targets_for(project, environment, access or Access())
    settings = settings_for(project, environment)

    async def one(target: Target, say: Emit) -> str:
        state = await hostops.read_state(target)
        found = services_by_kind(project.config, roles, target.spec)
        if action == "stop":
            return await _stop(target, say, dry_run=dry_run)
        if state.colour is None or state.release is None or state.venv is None:
            raise ConveyorError(
                f"{target.spec}: nothing was deployed here, so there is nothing to start",
                hint=f"deploy a release first: conveyor deploy {environment}",
            )
        every = {**found.http, **found.workers, **found.singletons}
        if dry_run:
            names = [program_name(n, state.colour) for n in every]
            return f"would start supervisord, {', '.join(names)} ({state.release}) and Caddy"
        await _boot(target)
        for name, service in every.items():
            prog = await programs.ensure_started(
                target,
                project.config,
                name,
                colour=state.colour,
                release_id=state.release,
                version=state.version or state.release,
                venv_key=state.venv,
            )
            started = prog.name if prog else program_name(name, state.colour)
            port = ports(project.config, name)[state.colour]
            if service.resolved_kind == "http":
                if service.health:
                    result = await gate(target, started, port, service.health, settings)
                    if not result.healthy:
                        raise ConveyorError(f"{started} is not healthy: {result.reason}")
                listen = target.listen_for(name, service)
                await hostops.ensure_proxy(target, name, listen=listen, port=port)
            say(Event(target.spec, "start", "ok", f"{started} runs {state.release}"))
        await hostops.write_state(target, replace(state, stopped_at=None))
        seen = await observe(target, project.config, roles, interval=settings.probe_interval)
        problems = seen.problems(project.config)
        if problems:
            raise ConveyorError("; ".join(problems))
        return f"up: serves {state.version or state.release} on {state.colour}"

    async def run(say: Emit, record_id: str) -> PowerResult:
        await asyncio.gather(*(t.conn.connect() for t in targets))
        owner = LockOwner.here(record_id)
        locked: list[Target] = []
        try:
            for target in sorted(targets, key=lambda t: t.spec):
                if dry_run:
                    lock = await inspect(target.conn, target.paths.app_dir)
                    if lock is not None:
                        raise LockHeld(
                            f"{environment} is locked on {target.spec} by {lock.describe()}; "
                            f"nothing was {'stopped' if action == 'stop' else 'started'} "
                            "(dry run)",
                            hint=f"conveyor status {environment} shows who holds it",
                        )
                    continue
                await acquire(target.conn, target.paths.app_dir, owner, environment=environment)
                locked.append(target)
            return await _each(targets, lambda t: one(t, say), action, say, record_id)
        finally:
            for target in locked:
                await release(target.conn, target.paths.app_dir, record_id)

    if dry_run:
        return asyncio.run(hostops.closing(run(emit, ""), targets))
    store, record_id = open_record(
        project, environment, kind=action, hosts=[t.spec for t in targets], release=""
    )
    say = recording(store, record_id, emit)
    try:
        result = asyncio.run(hostops.closing(run(say, record_id), targets))
    except BaseException as error:
        store.finish(record_id, status="failed", message=f"{action} failed: {error}")
        store.close()
        raise
    status = "failed" if result.failed else "succeeded"
    store.finish(record_id, status=status, message=summary(environment, result))
    store.close()
    return result


def summary(environment: str, result: PowerResult) -> str:
    """One line: `staging stopped on 2 host(s): app-1, app-2` (and what failed)."""
    verb = "stopped" if result.action == "stop" else "started"
    line = f"{environment} {verb} on {len(result.done)} host(s)"
    if result.done:
        line += f": {', '.join(sorted(result.done))}"
    if result.failed:
        line += f"; failed on {', '.join(sorted(result.failed))}"
    return line


async def _each(
    targets: Sequence[Target],
    work: Callable[[Target], Awaitable[str]],
    action: Action,
    say: Emit,
    record_id: str,
) -> PowerResult:
    """`work` on every host at once; a host that fails says why and the others go on."""
    verb = "stopping" if action == "stop" else "starting"
    for target in targets:
        say(Event(target.spec, action, "start", f"{verb} {target.spec}"))

    async def one(target: Target) -> tuple[str, str | None, str | None]:
        try:
            done: str = await work(target)
        except ConveyorError as error:
            why = error.message.removeprefix(f"{target.spec}: ")
            say(Event(target.spec, action, "fail", why))
            return target.spec, None, why
        say(Event(target.spec, action, "ok", done))
        return target.spec, done, None

    results = await asyncio.gather(*(one(t) for t in targets))
    done = {host: text for host, text, _ in results if text is not None}
    failed = {host: why for host, _, why in results if why is not None}
    return PowerResult(action, record_id or None, done, failed)


async def _stop(target: Target, say: Emit, *, dry_run: bool) -> str:
    """Shut supervisord down (each program stops gracefully first) and wait until it is gone."""
    runtime, conn = target.runtime, target.conn
    status = await conn.run(runtime.status_argv(), check=False)
    if runtime.unreachable(status.exit_code):
        if not dry_run:
            await _mark_stopped(target)
        return "down already: supervisord was not running"
    running = sorted(
        name for name, st in runtime.parse_status(status.stdout).items() if st.state == "running"
    )
    listed = ", ".join(running) if running else "no programs"
    if dry_run:
        return f"would stop {listed} and supervisord"
    await conn.run(runtime.shutdown_argv(), check=False)
    loop = asyncio.get_running_loop()
    end = loop.time() + SHUTDOWN_DEADLINE
    while not runtime.unreachable((await conn.run(runtime.status_argv(), check=False)).exit_code):
        if loop.time() > end:
            raise ConveyorError(
                f"supervisord is still running {SHUTDOWN_DEADLINE:g}s after its shutdown"
            )
        await asyncio.sleep(0.1)
    await _mark_stopped(target)
    return f"stopped {listed} and supervisord"


async def _mark_stopped(target: Target) -> None:
    state = await hostops.read_state(target)
    if state.release is not None:  # a host never deployed to keeps having no state file
        await hostops.write_state(target, replace(state, stopped_at=time.time()))


async def _boot(target: Target) -> None:
    """supervisord running (booted when it is not), answering status."""
    runtime, conn = target.runtime, target.conn
    if not runtime.unreachable((await conn.run(runtime.status_argv(), check=False)).exit_code):
        return
    await conn.run(runtime.boot_argv())
    loop = asyncio.get_running_loop()
    end = loop.time() + 20
    while runtime.unreachable((await conn.run(runtime.status_argv(), check=False)).exit_code):
        if loop.time() > end:
            raise ConveyorError("supervisord did not come up within 20s of starting it")
        await asyncio.sleep(0.1)
