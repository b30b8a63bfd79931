"""Programs on a host under its supervisor: defined for a release, started together, gated
by the caller, stopped within their drain time, retired after their warm time."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from conveyor.deploy.batch import Put, Run, batch
from conveyor.deploy.hostops import Target, command_argv, program_name, tools_python
from conveyor.deploy.layout import ports
from conveyor.deploy.state import Colour
from conveyor.errors import StartFailed
from conveyor.hosts.base import RunResult
from conveyor.project.model import ConveyorConfig
from conveyor.runtime.base import Program, runtime_dir, supervisor_socket_path
from conveyor.runtime.control import control_argv, parse_started, started_ago


def program(
    target: Target,
    *,
    name: str,
    argv: Sequence[str],
    release_id: str,
    venv_key: str,
    env: Mapping[str, str],
    drain: int,
) -> Program:
    """A service colour as a supervisor program, started through the launcher."""
    paths = target.paths
    venv = paths.venv(venv_key)
    python = posixpath.join(venv, "bin", "python")
    launch = (python, paths.launcher, paths.env_file, venv, "--", *argv)
    return Program(
        name=name,
        argv=launch,
        cwd=posixpath.join(paths.release(release_id), "app"),
        stdout_log=paths.log(name),
        env=dict(env),
        stopwaitsecs=drain,
        startsecs=1,
        autorestart="unexpected",
    )


def service_program(
    target: Target,
    *,
    service: str,
    command: str,
    colour: Colour,
    port: int,
    release_id: str,
    version: str,
    venv_key: str,
    drain: int,
) -> Program:
    """The program of one colour of a service, running one release."""
    env = {
        "PORT": str(port),
        "APP_VERSION": version,
        "CONVEYOR_RELEASE": release_id,
        "CONVEYOR_COLOR": colour,
    }
    return program(
        target,
        name=program_name(service, colour),
        argv=command_argv(command, port),
        release_id=release_id,
        venv_key=venv_key,
        env=env,
        drain=drain,
    )


def release_program(
    target: Target,
    config: ConveyorConfig,
    name: str,
    *,
    colour: Colour,
    release_id: str,
    version: str,
    venv_key: str,
) -> Program:
    """Service `name`'s program in `colour`, running a release: its command, port and drain."""
    service = config.services[name]
    assert service.command is not None
    return service_program(
        target,
        service=name,
        command=service.command,
        colour=colour,
        port=ports(config, name)[colour],
        release_id=release_id,
        version=version,
        venv_key=venv_key,
        drain=int(service.drain.total_seconds()),
    )


async def ensure_started(
    target: Target,
    config: ConveyorConfig,
    name: str,
    *,
    colour: Colour,
    release_id: str,
    version: str,
    venv_key: str,
) -> Program | None:
    """Start `name`'s `colour` on a release unless it already runs exactly that definition;
    returns the program it started, or None when it was already running."""
    prog = release_program(
        target,
        config,
        name,
        colour=colour,
        release_id=release_id,
        version=version,
        venv_key=venv_key,
    )
    if await defined_and_running(target, prog):
        return None
    await start(target, prog)
    return prog


async def start(target: Target, *progs: Program, wait: bool = True) -> dict[str, int]:
    """Define (or redefine) the programs and start them together, in one round trip; returns
    their pids; StartFailed, with each failed program's log tail, when one does not stay up.
    `wait=False`: started, not waited for (no pids); `spawn` waits for them later."""
    # Under the tools venv's Python, which runs supervisor's script itself (deploy/batch.py).
    *_, result = await batch(
        target.conn, tools_python(target), start_actions(target, progs, wait=wait)
    )
    return await started(target, progs, result)


@dataclass(frozen=True)
class Launched:
    """Programs a deploy started: their pids, and when the host started them."""

    pids: dict[str, int]
    ago: float  # seconds from their start on the host to the start script's end


async def define(target: Target, *progs: Program, cancel: Sequence[str] = ()) -> None:
    """Write the programs' definitions and apply them in one `update`: supervisor stops a
    program whose definition changed (its port is free afterwards) and starts nothing.
    `cancel`: programs stopped first when running (not running is fine), in the same round
    trip; the batch runs supervisor's script in its own Python, so each costs no start-up."""
    runtime = target.runtime
    stops = [Run(runtime.stop_argv(name), check=False) for name in cancel]
    applying = Run(control_argv(runtime.app_dir, runtime.tools, [], update=True))
    await batch(target.conn, tools_python(target), [*stops, *_definitions(target, progs), applying])


async def launch(target: Target, *progs: Program, started: bool = False) -> Launched:
    """Start defined programs (`define`) together, waiting their `startsecs` once for all of
    them (`started`: ones `start(wait=False)` started: only waited for); their pids, and
    when the host started them. StartFailed as `start` raises it."""
    runtime = target.runtime
    names = [prog.name for prog in progs]
    argv = control_argv(runtime.app_dir, runtime.tools, names, started=started)
    result = await target.conn.run(argv, check=False, timeout=60)
    return Launched(await _started(target, names, result), started_ago(result.stdout))


def start_actions(
    target: Target, progs: Sequence[Program], *, wait: bool = True
) -> list[Put | Run]:
    """The programs' definitions, then supervisor's `update` and their start (`wait`: until
    they are up): as a batch's actions; `started` reads the last one's answer."""
    runtime = target.runtime
    names = [prog.name for prog in progs]
    starting = control_argv(runtime.app_dir, runtime.tools, names, update=True, wait=wait)
    return [*_definitions(target, progs), Run(starting, check=False)]


async def started(target: Target, progs: Sequence[Program], result: RunResult) -> dict[str, int]:
    """The pids a start (`start_actions`) said; StartFailed as `start` raises it."""
    return await _started(target, [prog.name for prog in progs], result)


def _definitions(target: Target, progs: Sequence[Program]) -> list[Put | Run]:
    """The programs' definition files, and their logs started afresh."""
    runtime = target.runtime
    actions: list[Put | Run] = []
    for prog in progs:
        actions.append(Put(runtime.program_path(prog.name), runtime.render_program(prog).encode()))
        # The log starts afresh so a failure shows this start's output, not an earlier one's.
        actions.append(Put(prog.stdout_log, b""))
    return actions


async def spawn(target: Target, *progs: Program, started: bool = False) -> dict[str, int]:
    """Start defined programs together, waiting their `startsecs` once for all of them
    (`started`: ones `start(wait=False)` started: only waited for); returns their pids;
    StartFailed, with each failed program's log tail, when one does not stay up."""
    return (await launch(target, *progs, started=started)).pids


async def _started(target: Target, names: Sequence[str], result: RunResult) -> dict[str, int]:
    """The pids the start script printed; StartFailed with the failed programs' log tails."""
    # "already started": the same definition is running (a redeploy of a warm release).
    failed = []
    for line in result.stdout.splitlines():
        name, _, outcome = line.partition(": ")
        if name in names and outcome.startswith("ERROR") and "already started" not in outcome:
            failed.append(name)
    if not failed and (result.ok or "already started" in result.stdout):
        return parse_started(result.stdout)
    failed = failed or list(names)
    tails = [f"{name}:\n{await log_tail(target, name)}" for name in failed]
    raise StartFailed(
        f"{', '.join(failed)} did not start on {target.spec}: {_said(result.stdout)}\n"
        + "\n".join(tails),
        host=target.spec,
        argv=result.argv,
        exit_code=result.exit_code,
        output="\n".join(tails),
        programs=tuple(failed),
    )


def retire_name(colour: Colour) -> str:
    """The program that stops `colour` once its warm time is over."""
    return f"retire-{colour}"


async def schedule_retire(
    target: Target, colour: Colour, names: Sequence[str], after: float
) -> None:
    """Stop `names` (the old colour) after `after` seconds, under the host's supervisor."""
    await start(target, retirer(target, colour, names, after))


def retirer(target: Target, colour: Colour, names: Sequence[str], after: float) -> Program:
    """The program that stops `names` (the old colour) after `after` seconds."""
    paths = target.paths
    python = posixpath.join(paths.tools, "bin", "python")
    socket = supervisor_socket_path(paths.app_dir)
    return Program(
        name=retire_name(colour),
        argv=(python, paths.retirer, socket, f"{after:g}", *names),
        cwd=paths.app_dir,
        stdout_log=paths.log(retire_name(colour)),
        autorestart=False,
        startsecs=0,
        stopwaitsecs=1,
    )


async def defined_and_running(target: Target, prog: Program) -> bool:
    """True when `prog` runs with exactly this definition (same release, venv, port) and has
    passed its start: one supervisor is still starting, or starting again between crashes
    (a crash loop's retries go STARTING, BACKOFF, STARTING, ...), is not counted."""
    return await state_of(target, prog.name) == "running" and await defined(target, prog)


async def defined(target: Target, prog: Program) -> bool:
    """True when `prog`'s definition on the host is exactly this one."""
    try:
        current = await target.conn.get(target.runtime.program_path(prog.name))
    except FileNotFoundError:
        return False
    return current.decode("utf-8", "replace") == target.runtime.render_program(prog)


async def state_of(target: Target, name: str) -> str:
    """Program `name`'s state as supervisor has it ("running", "backoff", ...; "unknown")."""
    result = await target.conn.run(target.runtime.status_argv(), check=False)
    status = target.runtime.parse_status(result.stdout).get(name)
    return status.state if status is not None else "unknown"


async def stop(target: Target, name: str, *, timeout: float = 120) -> str:
    """Stop a program gracefully (the runtime kills it after its drain time); returns what
    the runtime said."""
    result = await target.conn.run(target.runtime.stop_argv(name), check=False, timeout=timeout)
    return result.stdout + result.stderr


@dataclass(frozen=True)
class Drained:
    """How a program given its drain time ended: `how` decides, `message` is for a person."""

    program: str
    how: Literal["absent", "not running", "graceful", "whole drain", "killed"]
    seconds: float  # the drain time it had

    @property
    def message(self) -> str:
        """`worker-blue stopped gracefully`, `... ignored its stop signal: killed ...`."""
        name, seconds = self.program, f"{self.seconds:g}s"
        return {
            "absent": f"{name} did not exist: nothing to stop",
            "not running": f"{name} was not running: nothing to stop",
            "graceful": f"{name} stopped gracefully",
            "whole drain": f"{name} stopped gracefully (it used its whole drain time, {seconds})",
            "killed": f"{name} ignored its stop signal: killed after its drain timeout ({seconds})",
        }[self.how]


async def drained(target: Target, name: str, said: str, took: float, *, seconds: float) -> Drained:
    """How a stop that said `said` after `took` seconds ended, given `seconds` to drain."""
    # supervisorctl's own words: the edge where a tool's output becomes a fact.
    if "no such process" in said:
        return Drained(name, "absent", seconds)
    if "not running" in said:
        return Drained(name, "not running", seconds)
    if took < seconds * 0.9:
        return Drained(name, "graceful", seconds)
    # It took the whole drain time: supervisor's log says whether it had to kill it.
    log = posixpath.join(runtime_dir(target.paths.app_dir), "supervisord.log")
    tail = await target.conn.run(["tail", "-n", "40", log], check=False)
    if f"stopped: {name} (terminated by SIGKILL)" in tail.stdout:
        return Drained(name, "killed", seconds)
    return Drained(name, "whole drain", seconds)


async def running(target: Target, name: str) -> str | None:
    """None while `name` runs (or starts); otherwise why not (its state and the end of
    its log)."""
    state = await state_of(target, name)
    if state in ("running", "starting"):
        return None
    return f"{name} is {state}\n{await log_tail(target, name)}"


async def log_tail(target: Target, name: str, lines: int = 15) -> str:
    """The last lines a program printed."""
    result = await target.conn.run(["tail", "-n", str(lines), target.paths.log(name)], check=False)
    text = result.stdout.rstrip()
    return "\n".join(f"  | {line}" for line in text.splitlines()) if text else "  | (no output)"


def _said(output: str) -> str:
    """What the start script said of each program (not how long ago it started them)."""
    return "\n".join(line for line in output.strip().splitlines() if not line.startswith("@"))
