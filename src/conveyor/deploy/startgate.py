"""The start gate's watch: a new colour's programs must stay up while their health is probed.

supervisor's `startsecs` only says a process lived one second. A service that exits
afterwards (exit 0 included), a gunicorn master that outlives it and then exits
because its workers fail to boot (supervisor restarts it, again and again), or a
master whose workers keep dying, is caught here: a script on the host watches the
programs' process info every 0.1 s, and the first crash ends the gate at once.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from conveyor.deploy.hostops import Target
from conveyor.deploy.programs import log_tail
from conveyor.errors import ConveyorError, StartFailed
from conveyor.runtime.control import watch_argv

# The gate watches a colour's programs until at least this long after their start (and as
# long as their health probes take): twice supervisor's `startsecs`. A service that exits
# within it is not a long-running one.
SETTLE = 2.0
WATCH_FAILED = 8


@dataclass(frozen=True)
class Crash:
    """A program of the new colour that did not stay up during its start gate."""

    program: str
    state: str  # supervisor's state when it was seen: exited, starting, backoff, fatal, ...
    pid: int  # 0 when no process runs
    expected_pid: int
    exit_status: int
    spawn_error: str
    workers_died: int
    log: str = ""
    exited: bool = True  # supervisord logged an exit of it (False: it may never have run)

    def reason(self) -> str:
        """`web-green exited (exit status 3) and was restarted (a crash loop)`."""
        if self.workers_died:
            return (
                f"{self.program} keeps losing its worker processes "
                f"({self.workers_died} exited and were replaced)"
            )
        if self.state == "stopped":
            return f"{self.program} was stopped"
        exited = f"{self.program} exited (exit status {self.exit_status})"
        if self.state == "fatal":
            return f"{exited} and could not be started again ({self.spawn_error})"
        if self.state != "exited":
            return f"{exited} and was restarted (a crash loop)"
        return exited

    def message(self, host: str) -> str:
        """What failed, where: the deploy's failure message."""
        return f"{self.reason()} during its start gate on {host}"


def parse_crash(output: str) -> Crash:
    """The watch script's JSON line."""
    # The verdict follows the script's heartbeat dots.
    lines = [line.lstrip(".") for line in output.splitlines()]
    data = json.loads(next(line for line in reversed(lines) if line.startswith("{")))
    return Crash(
        program=str(data["program"]),
        state=str(data["state"]),
        pid=int(data["pid"]),
        expected_pid=int(data["expected_pid"]),
        exit_status=int(data["exit_status"]),
        spawn_error=str(data["spawn_error"]),
        workers_died=int(data["workers_died"]),
        exited=bool(data.get("exited", True)),
    )


class Crashed(Exception):
    """The probes failed because a program crashed (`watch_while` tells the crash)."""

    def __init__(self, crash: Crash) -> None:
        super().__init__(crash.program)
        self.crash = crash


async def watch(target: Target, pids: Mapping[str, int], *, seconds: float) -> Crash | None:
    """Watch `pids` (program -> the pid it started with) for `seconds` (0: look once)."""
    if not pids:
        return None
    runtime = target.runtime
    argv = watch_argv(runtime.app_dir, runtime.tools, dict(pids), seconds=seconds)
    result = await target.conn.run(argv, check=False, timeout=seconds + 30)
    if result.ok:
        return None
    if result.exit_code != WATCH_FAILED:
        raise ConveyorError(
            f"{target.spec}: could not watch {', '.join(sorted(pids))} "
            f"(exit {result.exit_code}): {result.stderr.strip()[-300:]}"
        )
    try:
        crash = parse_crash(result.stdout)
    except (StopIteration, ValueError, KeyError, TypeError):
        raise ConveyorError(
            f"{target.spec}: the watch of {', '.join(sorted(pids))} gave no verdict: "
            f"{result.stdout.strip()[-300:]}"
        ) from None
    tail = await log_tail(target, crash.program)
    return replace(crash, log=tail)


async def failed_start(target: Target, error: StartFailed) -> tuple[str, str]:
    """The failure message and cause of programs that did not stay up while supervisor
    started them: read from supervisor as the gate reads a crash, so a release that
    crashes before or after `startsecs` is told the same way (exit status and log tail)."""
    try:
        # Expected pid 0: whatever supervisor shows now (fatal, backoff, restarted) is told.
        crash = await watch(target, dict.fromkeys(error.programs, 0), seconds=0)
    except ConveyorError:
        crash = None
    if crash is None:
        return f"{', '.join(error.programs)} crashed on start on {target.spec}", str(error)
    if not crash.exited and crash.state in ("starting", "running") and not crash.workers_died:
        # Never seen to exit: it is still in supervisor's start (startsecs), not crashing.
        return f"{crash.program} did not finish starting on {target.spec}", str(error)
    return crash.message(target.spec), f"{crash.reason()}\n{crash.log}"


async def watch_while(
    target: Target,
    pids: Mapping[str, int],
    probes: asyncio.Future[None],
    *,
    deadline: float,
    since: float,
    settle: float = SETTLE,
) -> Crash | None:
    """Watch the started programs while `probes` (their health gates) run, and until at least
    `settle` seconds after `since` (the event loop's time when they were started); a crash
    cancels the probes at once. `probes`' failure is raised, unless a crash explains it (a
    probe that saw its program gone between two watches): the crash is told instead."""
    loop = asyncio.get_running_loop()

    async def passed() -> None:
        try:
            await probes
        except ConveyorError:
            if (crash := await watch(target, pids, seconds=0)) is not None:
                raise Crashed(crash) from None
            raise

    # A first watch that ends with the settle time: when the probes pass before then, its own
    # end is the last look, and no second watch is needed.
    watcher = asyncio.ensure_future(
        watch(target, pids, seconds=max(0.0, since + settle - loop.time()))
    )
    both: list[asyncio.Future[Any]] = [watcher, probes]
    try:
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        if not watcher.done():
            await passed()
            return await watcher
        crash = watcher.result()
        if crash is not None:
            return crash
        if probes.done():
            await passed()
            return None
        # Settled, the probes still running: watch on until they end.
        watcher = asyncio.ensure_future(watch(target, pids, seconds=deadline))
        both = [watcher, probes]
        await asyncio.wait(both, return_when=asyncio.FIRST_COMPLETED)
        if watcher.done() and (crash := watcher.result()) is not None:
            return crash
        await passed()
    except Crashed as crashed:
        return crashed.crash
    finally:
        for task in (watcher, probes):
            task.cancel()
        await asyncio.gather(watcher, probes, return_exceptions=True)
    # The watch ended with the gate; one last look covers the moment in between.
    return await watch(target, pids, seconds=0)
