"""What the executor does on one host, each operation a few argv through the connector."""

from __future__ import annotations

import asyncio
import posixpath
import shlex
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from packaging.specifiers import SpecifierSet

from conveyor.deploy.batch import Put, Run, batch
from conveyor.deploy.launcher import SCRIPT as LAUNCHER
from conveyor.deploy.layout import HostPaths, listen_address
from conveyor.deploy.state import Colour, HostState, dumps, loads
from conveyor.errors import CommandFailed, ConveyorError, HostError
from conveyor.hosts.base import Connector, RunResult
from conveyor.hosts.upload import Entry, have_argv, held, send_tree
from conveyor.migrations.runner import BACKUPS, MIGRATOR, REHEARSALS
from conveyor.project.model import ServiceConfig
from conveyor.project.python import version_allowed
from conveyor.proxy.caddy import Caddy
from conveyor.runtime.base import socket_dir_argv
from conveyor.runtime.supervisor import (
    Supervisor,
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
    return state_from(target, text)


def state_from(target: Target, text: str | None) -> HostState:
    """The host's state from its state.json's text (None: there is none yet)."""
    if text is None:
        return HostState()
    return loads(text, where=f"{target.spec}:{target.paths.state}")


async def write_state(target: Target, state: HostState) -> None:
    """Write state.json atomically."""
    await target.conn.put(dumps(state).encode(), target.paths.state, mode=0o644)


async def prepare(
    target: Target, objects: Sequence[str] = (), *, migrates: bool = False
) -> tuple[str, frozenset[str] | None]:
    """Tools venv, directories, supervisord running, launcher in place (and, on a host that
    may run the migrations, `migrates`, conveyor's Alembic runner); returns what it did,
    and which of the release's `objects` (its files, by content) the host's store holds
    (None when there were none to ask about)."""
    paths, conn, runtime = target.paths, target.conn, target.runtime
    dirs = [posixpath.dirname(paths.launcher), posixpath.dirname(paths.log("x"))]
    files = [Put(path, text.encode(), 0o600) for path, text in runtime.files().items()]
    asked = [Run(have_argv(target.python, paths.objects, objects))] if objects else []
    # One round trip: directories, the tools, their files, whether supervisord runs, then
    # what the upload need not send.
    _, _, installed, status, *have = await batch(
        conn,
        target.python,
        [
            Run(["mkdir", "-p", "-m", "0700", *dirs, posixpath.dirname(paths.env_file)]),
            Run(socket_dir_argv(paths.app_dir, target.python)),
            Run(install_tools_argv(paths.app_dir, target.python)),
            *files,
            Put(paths.launcher, LAUNCHER.encode()),
            # A supervisor command is one line: the retire script lives in a file.
            Put(paths.retirer, RETIRE.encode()),
            *(runner_files(paths) if migrates else ()),
            Run(runtime.alive_argv(target.python), check=False),
            *asked,
        ],
    )
    if runtime.unreachable(status.exit_code):
        await conn.run(runtime.boot_argv())
        await _until_ok(conn, runtime.status_argv(), accept=(0, 3))
    said = installed.stdout.strip().splitlines()[-1] if installed.stdout.strip() else "tools ready"
    return said, held(have[0].stdout) if have else None


async def connect(target: Target) -> None:
    """Connect (verifying the host key); the agents of the two Pythons a run's scripts use
    (the host's, and the tools venv's: supervisor's) start meanwhile, in the background, and
    file reads and writes (SFTP) are opened: a host without them is refused here, before
    anything changes on it."""
    await target.conn.connect()
    target.conn.warm([target.python, tools_python(target)])
    await target.conn.open_files()


def release_files(release_dir: Path) -> dict[str, Path]:
    """The release's files by their path inside it."""
    return {
        str(path.relative_to(release_dir)): path
        for path in sorted(release_dir.rglob("*"))
        if path.is_file() or path.is_symlink()
    }


async def upload(
    target: Target, entries: Sequence[Entry], release_id: str, present: frozenset[str] | None
) -> str:
    """Send the release's files (`entries`: hashed, `upload.hashed`) the host lacks and link
    them into releases/<id>; `present`: the objects its store was found to hold (None:
    asked first)."""
    stats = await send_tree(
        target.conn,
        entries,
        target.paths.release(release_id),
        store=target.paths.objects,
        python=target.python,
        present=present,
    )
    return f"sent {stats.sent} of {stats.files} files ({stats.bytes_sent / 1024:.1f} KiB)"


def env_actions(target: Target, text: str, release_id: str) -> list[Put | Run]:
    """shared/.env with mode 0600, linked into the release's app directory."""
    link = posixpath.join(target.paths.release(release_id), "app", ".env")
    env = target.paths.env_file
    return [Put(env, text.encode(), 0o600), Run(["ln", "-sfn", env, link])]


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


def runner_files(paths: HostPaths) -> tuple[Put, ...]:
    """conveyor's Alembic runner and the modules it imports from beside it."""
    return (
        Put(paths.migrator, MIGRATOR),
        Put(paths.backuper, BACKUPS),
        Put(paths.rehearser, REHEARSALS),
    )


def venv_argv(target: Target, key: str, release_id: str) -> list[str]:
    """The script that builds the venv for the release's lock once per host and reuses it
    after; it says "built" or "reused"."""
    lock = posixpath.join(target.paths.release(release_id), "requirements.lock")
    return [target.python, "-c", _VENV, target.paths.venv(key), lock]


async def run_in_release(
    target: Target,
    command: Sequence[str],
    *,
    release_id: str,
    venv_key: str,
    timeout: float,
    what: str,
    check: bool = True,
) -> RunResult:
    """`command` with the release's venv and `.env` values, in its app directory.

    CommandFailed, saying "`what` failed" with the last lines of its output, when it exits
    non-zero (with `check`; else the caller reads the result).
    """
    paths = target.paths
    venv = paths.venv(venv_key)
    python = posixpath.join(venv, "bin", "python")
    argv = [python, paths.launcher, paths.env_file, venv, "--", *command]
    cwd = posixpath.join(paths.release(release_id), "app")
    result = await target.conn.run(argv, cwd=cwd, timeout=timeout, check=False)
    if check and not result.ok:
        output = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise CommandFailed(
            f"{what} failed on {target.spec} (exit {result.exit_code})",
            host=target.spec,
            argv=tuple(argv),
            exit_code=result.exit_code,
            output="\n".join(output),
        )
    return result


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
    result = await target.conn.run(target.proxy(service).switch_argv(port))
    check_switched(target, service, port, result.stdout)


def check_switched(target: Target, service: str, port: int, said: str) -> None:
    """ConveyorError unless the switch script's output (the file it wrote, read back: the
    check costs no second round trip) names `port`."""
    live = target.proxy(service).parse_upstream(said)
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


def link_argv(target: Target, release_id: str, python: str) -> list[str]:
    """`current -> releases/<id>`, replaced atomically, by `python`."""
    return [python, "-c", _LINK, target.paths.release(release_id), target.paths.current]


async def link_current(target: Target, release_id: str) -> None:
    """`current -> releases/<id>`, replaced atomically (one round trip)."""
    await target.conn.run(link_argv(target, release_id, target.python))


def tools_python(target: Target) -> str:
    """The tools venv's Python (supervisor's): the interpreter of its control script."""
    return posixpath.join(target.paths.tools, "bin", "python")


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
