"""What the executor does on one host, each operation a few argv through the connector."""

from __future__ import annotations

import asyncio
import json
import posixpath
import shlex
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar

from packaging.specifiers import SpecifierSet

from conveyor.deploy.launcher import SCRIPT as LAUNCHER
from conveyor.deploy.layout import HostPaths, listen_address, ports
from conveyor.deploy.state import Colour, HostState, dumps, loads
from conveyor.errors import CommandFailed, ConveyorError, HostError, StartFailed
from conveyor.hosts.base import Connector, RunResult
from conveyor.hosts.upload import upload_tree
from conveyor.project.model import ConveyorConfig, ServiceConfig
from conveyor.project.python import version_allowed
from conveyor.proxy.caddy import Caddy
from conveyor.runtime.base import Program, socket_dir_argv
from conveyor.runtime.supervisor import (
    Supervisor,
    parse_started,
    runtime_dir,
    start_all_argv,
    supervisor_socket_path,
)
from conveyor.runtime.tools import install_tools_argv

T = TypeVar("T")

# Runs on the host: build the venv for a lock once; the marker is written last.
_VERSION = "import sys; print('%d.%d.%d' % sys.version_info[:3])"
_VENV = r"""
import os, subprocess, sys, venv
path, python_lock = sys.argv[1], sys.argv[2]
marker = os.path.join(path, ".conveyor-complete")
if os.path.exists(marker):
    print("reused"); sys.exit(0)
venv.create(path, with_pip=True, clear=True)
subprocess.run([os.path.join(path, "bin", "python"), "-m", "pip", "install", "--quiet",
                "--disable-pip-version-check", "-r", python_lock], check=True)
open(marker, "w").close()
print("built")
"""


@dataclass
class Target:
    """One host of the deploy: its connection, its directories and its runtime."""

    spec: str
    conn: Connector
    paths: HostPaths
    python: str  # the host's interpreter for tools and venvs
    requires: str | None = None  # the project's requires-python, which that interpreter must meet
    # This host's own Caddy address per http service (a host table's `listen` in conveyor.toml).
    listen: Mapping[str, str] = field(default_factory=dict)

    def listen_for(self, name: str, service: ServiceConfig) -> str:
        """Where Caddy listens for http service `name` on this host."""
        return listen_address(service, self.listen.get(name))

    @property
    def runtime(self) -> Supervisor:
        """The host's supervisor."""
        return Supervisor(self.paths.app_dir, self.paths.tools)

    def proxy(self, service: str) -> Caddy:
        """The host's Caddy for an http service."""
        return Caddy(self.paths.app_dir, self.paths.tools, service=service)


async def closing(work: Awaitable[T], targets: Sequence[Target]) -> T:
    """Await `work`, then close every host's connection (all at once, whatever happened)."""
    try:
        return await work
    finally:
        await asyncio.gather(*(t.conn.close() for t in targets), return_exceptions=True)


async def read_state(target: Target) -> HostState:
    """The host's state.json, or an empty state before the first deploy."""
    try:
        text = (await target.conn.get(target.paths.state)).decode("utf-8", "replace")
    except FileNotFoundError:
        return HostState()
    return loads(text, where=f"{target.spec}:{target.paths.state}")


async def write_state(target: Target, state: HostState) -> None:
    """Write state.json atomically."""
    await target.conn.put(dumps(state).encode(), target.paths.state, mode=0o644)


async def prepare(target: Target) -> str:
    """Tools venv, directories, supervisord running, launcher in place; returns what it did."""
    paths, conn = target.paths, target.conn
    dirs = [posixpath.dirname(paths.launcher), posixpath.dirname(paths.log("x"))]
    await conn.run(["mkdir", "-p", "-m", "0700", *dirs, posixpath.dirname(paths.env_file)])
    await conn.run(socket_dir_argv(paths.app_dir, target.python))
    installed = await conn.run(install_tools_argv(paths.app_dir, target.python), timeout=600)
    for path, text in target.runtime.files().items():
        await conn.put(text.encode(), path, mode=0o600)
    await conn.put(LAUNCHER.encode(), paths.launcher, mode=0o644)
    # A supervisor command is one line: the retire script lives in a file.
    await conn.put(RETIRE.encode(), paths.retirer, mode=0o644)
    status = await conn.run(target.runtime.status_argv(), check=False)
    if target.runtime.unreachable(status.exit_code):
        await conn.run(target.runtime.boot_argv())
        await _until_ok(conn, target.runtime.status_argv(), accept=(0, 3))
    return installed.stdout.strip().splitlines()[-1] if installed.stdout.strip() else "tools ready"


async def upload(target: Target, release_dir: Path, release_id: str) -> str:
    """Send the release's files the host lacks and link them into releases/<id>."""
    files = {
        str(path.relative_to(release_dir)): path
        for path in sorted(release_dir.rglob("*"))
        if path.is_file() or path.is_symlink()
    }
    dest = target.paths.release(release_id)
    stats = await upload_tree(
        target.conn, files, dest, store=target.paths.objects, python=target.python
    )
    return f"sent {stats.sent} of {stats.files} files ({stats.bytes_sent / 1024:.1f} KiB)"


async def write_env(target: Target, text: str, release_id: str) -> str:
    """shared/.env with mode 0600, linked into the release's app directory."""
    await target.conn.put(text.encode(), target.paths.env_file, mode=0o600)
    link = posixpath.join(target.paths.release(release_id), "app", ".env")
    await target.conn.run(["ln", "-sfn", target.paths.env_file, link])
    return f"wrote {target.paths.env_file} (mode 0600)"


async def check_python(target: Target) -> None:
    """HostError when the host's interpreter does not meet the project's requires-python."""
    if target.requires is None:
        return
    version = (await target.conn.run([target.python, "-c", _VERSION], timeout=60)).stdout.strip()
    if not version_allowed(SpecifierSet(target.requires), version):
        raise HostError(
            f"{target.spec}: {target.python} is Python {version}, but the project requires "
            f"Python {target.requires} (pyproject.toml requires-python); nothing was changed",
            hint="install a Python that meets it on the host, "
            "or set [app] python in conveyor.toml to a version the host has that meets it",
        )


async def ensure_venv(target: Target, key: str, release_id: str) -> str:
    """The venv for the release's lock: built once per host, reused after; "built"/"reused"."""
    await check_python(target)
    lock = posixpath.join(target.paths.release(release_id), "requirements.lock")
    argv = [target.python, "-c", _VENV, target.paths.venv(key), lock]
    return (await target.conn.run(argv, timeout=900)).stdout.strip()


def migrations_applied(result: RunResult) -> str:
    """What `alembic upgrade head` said it did."""
    lines = [line for line in result.stderr.splitlines() if "Running upgrade" in line]
    return f"{len(lines)} migration(s) applied" if lines else "database is up to date"


async def run_in_release(
    target: Target,
    command: Sequence[str],
    *,
    release_id: str,
    venv_key: str,
    timeout: float,
    what: str,
) -> RunResult:
    """`command` with the release's venv and `.env` values, in its app directory.

    CommandFailed, saying "`what` failed" with the last lines of its output, when it exits
    non-zero.
    """
    paths = target.paths
    venv = paths.venv(venv_key)
    python = posixpath.join(venv, "bin", "python")
    argv = [python, paths.launcher, paths.env_file, venv, "--", *command]
    cwd = posixpath.join(paths.release(release_id), "app")
    result = await target.conn.run(argv, cwd=cwd, timeout=timeout, check=False)
    if not result.ok:
        output = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise CommandFailed(
            f"{what} failed on {target.spec} (exit {result.exit_code})",
            host=target.spec,
            argv=tuple(argv),
            exit_code=result.exit_code,
            output="\n".join(output),
        )
    return result


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


async def start(target: Target, *progs: Program) -> None:
    """Define (or redefine) the programs and start them together; CommandFailed has log tails."""
    await define(target, *progs)
    await spawn(target, *progs)


async def define(target: Target, *progs: Program) -> None:
    """Write the programs' definitions and apply them in one `update`: supervisor stops a
    program whose definition changed (its port is free afterwards) and starts nothing."""
    runtime, conn = target.runtime, target.conn
    for prog in progs:
        await conn.put(runtime.render_program(prog).encode(), runtime.program_path(prog.name))
        # The log starts afresh so a failure shows this start's output, not an earlier one's.
        await conn.put(b"", prog.stdout_log)
    await conn.run(runtime.apply_argv())


async def spawn(target: Target, *progs: Program) -> dict[str, int]:
    """Start defined programs together, waiting their `startsecs` once for all of them;
    returns their pids; StartFailed, with each failed program's log tail, when one does
    not stay up."""
    runtime, conn = target.runtime, target.conn
    names = [prog.name for prog in progs]
    argv = start_all_argv(runtime.app_dir, runtime.tools, names)
    result = await conn.run(argv, check=False, timeout=60)
    # "already started": the same definition is running (a redeploy of a warm release).
    failed = []
    for line in result.stdout.splitlines():
        name, _, outcome = line.partition(": ")
        if name in names and outcome.startswith("ERROR") and "already started" not in outcome:
            failed.append(name)
    if not failed and (result.ok or "already started" in result.stdout):
        return parse_started(result.stdout)
    failed = failed or names
    tails = [f"{name}:\n{await log_tail(target, name)}" for name in failed]
    raise StartFailed(
        f"{', '.join(failed)} did not start on {target.spec}: {result.stdout.strip()}\n"
        + "\n".join(tails),
        host=target.spec,
        argv=tuple(argv),
        exit_code=result.exit_code,
        output="\n".join(tails),
        programs=tuple(failed),
    )


# Runs under supervisor on the host: keeps the old colour warm, then stops it.
RETIRE = r"""
import sys, time, xmlrpc.client
from supervisor.xmlrpc import SupervisorTransport
sock, seconds, names = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
print(f"stopping {' '.join(names)} in {seconds:g}s", flush=True)
time.sleep(seconds)
rpc = xmlrpc.client.ServerProxy(
    "http://localhost", transport=SupervisorTransport(None, None, "unix://" + sock)
).supervisor
for name in names:
    try:
        rpc.stopProcess(name, True)
        print(f"stopped {name}", flush=True)
    except xmlrpc.client.Fault as fault:
        print(f"{name}: {fault.faultString}", flush=True)
"""


def retire_name(colour: Colour) -> str:
    """The program that stops `colour` once its warm time is over."""
    return f"retire-{colour}"


async def schedule_retire(
    target: Target, colour: Colour, names: Sequence[str], after: float
) -> None:
    """Stop `names` (the old colour) after `after` seconds, under the host's supervisor."""
    paths = target.paths
    python = posixpath.join(paths.tools, "bin", "python")
    socket = supervisor_socket_path(paths.app_dir)
    prog = Program(
        name=retire_name(colour),
        argv=(python, paths.retirer, socket, f"{after:g}", *names),
        cwd=paths.app_dir,
        stdout_log=paths.log(retire_name(colour)),
        autorestart=False,
        startsecs=0,
        stopwaitsecs=1,
    )
    await start(target, prog)


async def cancel_retire(target: Target, colour: Colour) -> None:
    """Call off a pending stop of `colour` (it is about to serve, or to run something new)."""
    await target.conn.run(target.runtime.stop_argv(retire_name(colour)), check=False)


async def defined_and_running(target: Target, prog: Program) -> bool:
    """True when `prog` runs with exactly this definition (same release, venv, port)."""
    try:
        current = await target.conn.get(target.runtime.program_path(prog.name))
    except FileNotFoundError:
        return False
    if current.decode("utf-8", "replace") != target.runtime.render_program(prog):
        return False
    return await running(target, prog.name) is None


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


async def drain(target: Target, name: str, *, seconds: float) -> Drained:
    """Stop a program gracefully; whether it finished or was killed after `seconds`."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    said = await stop(target, name, timeout=seconds + 60)
    # supervisorctl's own words: the edge where a tool's output becomes a fact.
    if "no such process" in said:
        return Drained(name, "absent", seconds)
    if "not running" in said:
        return Drained(name, "not running", seconds)
    if loop.time() - began < seconds * 0.9:
        return Drained(name, "graceful", seconds)
    # It took the whole drain time: supervisor's log says whether it had to kill it.
    log = posixpath.join(runtime_dir(target.paths.app_dir), "supervisord.log")
    tail = await target.conn.run(["tail", "-n", "40", log], check=False)
    if f"stopped: {name} (terminated by SIGKILL)" in tail.stdout:
        return Drained(name, "killed", seconds)
    return Drained(name, "whole drain", seconds)


# Runs on the host: copy a release's directory into place, file by file, each atomically.
# Only files an earlier sync wrote are ever removed (the manifest lists them).
_SYNC = r"""
import filecmp, json, os, shutil, sys
src, dest, missing_ok = sys.argv[1], sys.argv[2], sys.argv[3] == "missing-ok"
missing = not os.path.isdir(src)
if missing and not missing_ok:
    sys.exit(f"{src} is not a directory in the release")
os.makedirs(dest, exist_ok=True)
manifest = os.path.join(dest, ".conveyor-sync.json")
try:
    with open(manifest) as f:
        before = set(json.load(f))
except (OSError, ValueError):
    before = set()
now, copied = [], 0
for root, dirs, files in os.walk(src):
    dirs.sort()
    for name in sorted(files):
        path = os.path.join(root, name)
        rel = os.path.relpath(path, src)
        now.append(rel)
        out = os.path.join(dest, rel)
        if os.path.isfile(out) and filecmp.cmp(path, out, shallow=False):
            continue
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copyfile(path, out + ".conveyor-tmp")
        os.replace(out + ".conveyor-tmp", out)
        copied += 1
removed = 0
for rel in sorted(before - set(now)):
    try:
        os.unlink(os.path.join(dest, rel))
        removed += 1
    except FileNotFoundError:
        pass
with open(manifest + ".tmp", "w") as f:
    json.dump(sorted(now), f)
os.replace(manifest + ".tmp", manifest)
if missing:
    said = f"none in this release: removed the {removed} file(s) a later sync wrote to {dest}"
else:
    said = f"{len(now)} file(s) in {dest}: {copied} copied, {removed} removed"
print(json.dumps({"missing": missing, "message": said}))
"""


@dataclass(frozen=True)
class Synced:
    """What a sync did: `missing` when the release has no such directory."""

    message: str
    missing: bool


async def sync(
    target: Target, *, release_id: str, source: str, dest: str, missing_ok: bool = False
) -> Synced:
    """Copy the release's `source` directory to `dest` on the host; returns what changed.

    `missing_ok`: a release without `source` counts as an empty directory (the files an
    earlier sync wrote are removed) instead of an error, and the answer says it was missing.
    """
    src = posixpath.join(target.paths.release(release_id), "app", source)
    flag = "missing-ok" if missing_ok else "strict"
    result = await target.conn.run([target.python, "-c", _SYNC, src, dest, flag], check=False)

    def failed(what: str, output: str) -> CommandFailed:
        return CommandFailed(
            f"sync of {source} to {dest} {what} on {target.spec}: {output.strip()[-300:]}",
            host=target.spec,
            argv=("sync", src, dest),
            exit_code=result.exit_code,
            output=output,
        )

    if not result.ok:
        raise failed("failed", result.stderr or result.stdout)
    try:
        verdict = json.loads(result.stdout.strip().splitlines()[-1])
        return Synced(str(verdict["message"]), bool(verdict["missing"]))
    except (IndexError, ValueError, KeyError, TypeError):
        raise failed("gave no verdict", result.stdout) from None


async def put_files(
    target: Target, service: ServiceConfig, *, release_id: str, venv_key: str, missing_ok: bool
) -> list[str]:
    """A sync service's files from the release into place, then its `after` command (not
    when the release has no such files); returns what was done, for the user."""
    assert service.sync is not None
    synced = await sync(
        target,
        release_id=release_id,
        source=service.sync.from_,
        dest=service.sync.to,
        missing_ok=missing_ok,
    )
    done = [synced.message]
    if service.after_argv and not synced.missing:
        command = service.after_argv
        done.append(
            await run_after(target, command=command, release_id=release_id, venv_key=venv_key)
        )
    return done


async def run_after(
    target: Target, *, command: Sequence[str], release_id: str, venv_key: str
) -> str:
    """A sync's `after` command, with the release's venv and values, in its app directory."""
    what = shlex.join(command)
    await run_in_release(
        target, command, release_id=release_id, venv_key=venv_key, timeout=600, what=what
    )
    return f"{what}: ok"


async def running(target: Target, name: str) -> str | None:
    """None while `name` runs; otherwise why not (its state and the end of its log)."""
    result = await target.conn.run(target.runtime.status_argv(), check=False)
    status = target.runtime.parse_status(result.stdout).get(name)
    if status is not None and status.state in ("running", "starting"):
        return None
    state = status.state if status else "unknown"
    return f"{name} is {state}\n{await log_tail(target, name)}"


async def log_tail(target: Target, name: str, lines: int = 15) -> str:
    """The last lines a program printed."""
    result = await target.conn.run(["tail", "-n", str(lines), target.paths.log(name)], check=False)
    text = result.stdout.rstrip()
    return "\n".join(f"  | {line}" for line in text.splitlines()) if text else "  | (no output)"


async def ensure_proxy(target: Target, service: str, *, listen: str, port: int) -> bool:
    """Start Caddy pointing at `port` if it is not running; True when it was started."""
    proxy, runtime, conn = target.proxy(service), target.runtime, target.conn
    if (await conn.run(proxy.ready_argv(), check=False)).ok:
        return False
    await conn.put(proxy.render_upstream(port), proxy.upstream_path)
    await conn.put(proxy.render_config(listen), proxy.config_path, mode=0o600)
    prog = proxy.program()
    await conn.put(runtime.render_program(prog).encode(), runtime.program_path(prog.name))
    await conn.run(runtime.apply_argv())
    await conn.run(runtime.start_argv(prog.name))
    await _until_ok(conn, proxy.ready_argv(), accept=(0,))
    return True


async def switch(target: Target, service: str, port: int) -> None:
    """Point Caddy at `port`; in-flight requests finish on the old colour."""
    proxy = target.proxy(service)
    # The switch prints the file it wrote, read back: the check costs no second round trip.
    live = proxy.parse_upstream((await target.conn.run(proxy.switch_argv(port))).stdout)
    if live != port:
        raise ConveyorError(
            f"{target.spec}: the switch to port {port} did not take (Caddy uses {live})"
        )


_LINK = r"""
import os, sys
target, link = sys.argv[1], sys.argv[2]
try:
    os.unlink(link + ".tmp")
except FileNotFoundError:
    pass
os.symlink(target, link + ".tmp")
os.replace(link + ".tmp", link)
"""


async def link_current(target: Target, release_id: str) -> None:
    """`current -> releases/<id>`, replaced atomically (one round trip)."""
    paths = target.paths
    await target.conn.run([target.python, "-c", _LINK, paths.release(release_id), paths.current])


def program_name(service: str, colour: Colour) -> str:
    """`web-blue`, `worker-green`."""
    return f"{service}-{colour}"


def command_argv(command: str, port: int) -> list[str]:
    """The service's command with `$PORT` filled in (no shell)."""
    return [
        part.replace("${PORT}", str(port)).replace("$PORT", str(port))
        for part in shlex.split(command)
    ]


async def _until_ok(
    conn: Connector, argv: Sequence[str], *, accept: tuple[int, ...], deadline: float = 20
) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    while True:
        result = await conn.run(argv, check=False)
        if result.exit_code in accept:
            return
        if loop.time() > end:
            raise ConveyorError(
                f"{conn.name}: {shlex.join(argv)} kept failing: {result.stderr.strip()[-300:]}"
            )
        await asyncio.sleep(0.1)
