"""The local connector: commands as subprocesses of conveyor, files through the filesystem."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from conveyor.errors import HostError
from conveyor.hosts.agent import Agents, Channel
from conveyor.hosts.base import DEFAULT_TIMEOUT, RunResult
from conveyor.hosts.failures import checked, command_timeout, decode
from conveyor.hosts.trips import RoundTrips

# After the process group is killed, its pipes close at once; this only guards
# against a child that left the group (setsid) and still holds stdout.
_DRAIN_AFTER_KILL = 2.0


class LocalConnector:
    """Runs argv on this machine; each command leads its own process group."""

    def __init__(self, name: str = "local") -> None:
        self._name = name
        self.round_trips = RoundTrips()
        self._agents = Agents(name, self._spawn, self.round_trips, local=True)

    @property
    def name(self) -> str:
        """Always "local" unless a test names it otherwise."""
        return self._name

    async def connect(self) -> None:
        """Nothing to open for the local machine."""

    @property
    def home(self) -> str | None:
        """This machine's home of the user conveyor runs as."""
        return os.path.expanduser("~")

    async def close(self) -> None:
        """End the agents (hosts/agent.py); nothing else to close for the local machine."""
        await self._agents.close()

    async def forward(self, host: str, port: int) -> tuple[str, int]:
        """This machine reaches its own ports directly."""
        return host, port

    def warm(self, interpreters: Sequence[str]) -> None:
        """Start these Pythons' agents now, in the background."""
        self._agents.warm(interpreters)

    async def open_files(self) -> None:
        """Files are read and written here directly: nothing to open."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        env: Mapping[str, str] | None = None,
        stdin: bytes | None = None,
        cwd: str | None = None,
        check: bool = True,
    ) -> RunResult:
        """Run argv; a timeout kills the whole process group and always raises CommandTimeout."""
        args = tuple(argv)
        self.round_trips.ran(args)
        if (agent := await self._agents.get(args, env)) is not None:
            return await agent.run(
                args, timeout=timeout, env=env, stdin=stdin, cwd=cwd, check=check
            )
        try:
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=cwd,
                env={**os.environ, **env} if env else None,
                # A new session makes the command a group leader, so a timeout can kill
                # everything it started (shell pipelines, workers), not just the parent.
                start_new_session=True,
            )
        except OSError as exc:
            # Reported the way a shell would: 127 not found, 126 not executable.
            code = 127 if isinstance(exc, FileNotFoundError) else 126
            result = RunResult(self._name, args, code, "", f"{exc.filename}: {exc.strerror}\n")
            return checked(result, check=check)
        assert proc.stdout is not None and proc.stderr is not None
        out = asyncio.ensure_future(proc.stdout.read())
        err = asyncio.ensure_future(proc.stderr.read())
        tasks = {out, err, asyncio.ensure_future(proc.wait())}
        if stdin is not None:
            tasks.add(asyncio.ensure_future(_feed(proc, stdin)))
        try:
            _, pending = await asyncio.wait(tasks, timeout=timeout)
            if pending:
                _kill_group(proc.pid)
                await asyncio.wait(pending, timeout=_DRAIN_AFTER_KILL)
                stdout = decode(out.result()) if out.done() else ""
                stderr = decode(err.result()) if err.done() else ""
                raise command_timeout(
                    self._name, args, timeout=timeout, stdout=stdout, stderr=stderr
                )
        finally:
            for task in tasks:
                task.cancel()
            if proc.returncode is None:  # cancelled, or the drain above gave up
                _kill_group(proc.pid)
                # Reaped here, so no transport outlives its event loop.
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(proc.wait(), _DRAIN_AFTER_KILL)
        exit_code = proc.returncode
        assert exit_code is not None
        result = RunResult(self._name, args, exit_code, decode(out.result()), decode(err.result()))
        return checked(result, check=check)

    async def _spawn(self, argv: Sequence[str]) -> Channel | None:
        """A long-lived child with its stdin and stdout (an agent); None when it cannot start."""
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            return None
        return _Child(proc)

    async def put(self, data: bytes, path: str, *, mode: int = 0o644) -> None:
        """Write `data` to `path` atomically (temp file in the same directory, then rename)."""
        self.round_trips.moved("put")
        try:
            await asyncio.to_thread(_write_atomically, data, Path(path), mode)
        except OSError as exc:
            raise HostError(f"cannot write {path} on {self._name}: {exc.strerror}") from exc

    async def get(self, path: str) -> bytes:
        """Read a file; FileNotFoundError when it does not exist."""
        self.round_trips.moved("get")
        try:
            return await asyncio.to_thread(Path(path).read_bytes)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise HostError(f"cannot read {path} on {self._name}: {exc.strerror}") from exc


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    assert proc.stdin is not None
    # A command may exit without reading all of its input; that is its business.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(data)
        await proc.stdin.drain()
        proc.stdin.close()


def _kill_group(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _write_atomically(data: bytes, target: Path, mode: int) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)  # explicit: mkstemp creates 0600 whatever the umask
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class _Child:
    """An agent's pipes (hosts/agent.py's Channel): a plain child process whose pipes are
    read and written through the event loop's selector, never blocking it, so nothing of it
    outlives the loop (a connector may be used under several event loops one after another,
    and is not always closed)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdin is not None and proc.stdout is not None
        self._proc, self._stdin, self._stdout = proc, proc.stdin, proc.stdout
        os.set_blocking(self._stdout.fileno(), False)
        os.set_blocking(self._stdin.fileno(), False)
        self._unsent = bytearray()

    def write(self, data: bytes) -> None:
        self._unsent += data
        self._flush()

    def _flush(self) -> None:
        if self._stdin.closed:
            self._unsent.clear()
            return
        fd = self._stdin.fileno()
        loop = asyncio.get_running_loop()
        try:
            while self._unsent:
                del self._unsent[: os.write(fd, self._unsent)]
        except BlockingIOError:
            loop.add_writer(fd, self._flush)  # the rest once the agent has read some
            return
        except OSError:
            self._unsent.clear()  # the agent is gone: its reader tells the callers
        loop.remove_writer(fd)

    async def read(self) -> bytes:
        loop = asyncio.get_running_loop()
        fd = self._stdout.fileno()
        while True:
            try:
                return os.read(fd, 1 << 16)
            except BlockingIOError:
                pass
            except OSError:
                return b""
            readable: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _ready, readable)
            try:
                await readable
            finally:
                loop.remove_reader(fd)

    async def close(self) -> None:
        with contextlib.suppress(OSError):
            self._stdin.close()
        for _ in range(int(_DRAIN_AFTER_KILL / 0.01)):
            if self._proc.poll() is not None:
                break
            await asyncio.sleep(0.01)
        self.abandon()

    def abandon(self) -> None:
        if not self._stdin.closed:
            with contextlib.suppress(OSError, RuntimeError):
                asyncio.get_running_loop().remove_writer(self._stdin.fileno())
        with contextlib.suppress(OSError):
            self._stdin.close()
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                self._proc.kill()
            self._proc.wait()
        self._stdout.close()


def _ready(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
