"""The SSH connector: one asyncssh connection per host, reused for every command and file."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shlex
import socket
import time
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

import asyncssh

from conveyor.errors import HostError, HostKeyUnknown, HostUnreachable
from conveyor.hosts.agent import MAX_AGENTS, Agents, Channel
from conveyor.hosts.base import DEFAULT_TIMEOUT, RunResult
from conveyor.hosts.failures import checked, command_timeout, decode
from conveyor.hosts.hostkeys import KeyRecorder, default_known_hosts, load_known_hosts, refusal
from conveyor.hosts.trips import RoundTrips

CONNECT_TIMEOUT = 10.0
KEEPALIVE = 2.0  # seconds between keepalives; three unanswered ones close the connection
FILE_TIMEOUT = 120.0  # one SFTP read or write of a (small) file
CLOSE_TIMEOUT = 5.0
# OpenSSH allows 10 sessions per connection (MaxSessions); SFTP keeps one open, and each
# agent (hosts/agent.py, at most MAX_AGENTS) one more.
MAX_CHANNELS = 10 - 1 - MAX_AGENTS
_GRACE = 1.0
# How a command killed by timeout(1) ends: SIGKILL as a signal, or 128 + 9.
_KILLED = (-9, 137)


def remote_command(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
) -> str:
    """The one shell string sent to sshd: `timeout -s KILL T env K=V argv`, after `cd DIR`."""
    words = list(argv)
    if env:
        # Through env(1) rather than SendEnv: sshd's AcceptEnv usually drops those.
        words = ["env", *(f"{key}={value}" for key, value in env.items()), *words]
    # timeout(1) leads a process group and kills all of it at the deadline: sshd
    # cannot deliver our signal to a root login (no privilege separation after auth).
    words = ["timeout", "-s", "KILL", f"{timeout:g}", *words]
    command = "exec " + shlex.join(words)
    if cwd is not None:
        return f"cd {shlex.quote(cwd)} && {command}"
    return command


class SshConnector:
    """Reaches `user@host[:port]` over SSH, verifying its host key against known_hosts."""

    def __init__(
        self,
        name: str,
        *,
        user: str,
        host: str,
        port: int = 22,
        known_hosts: Path | None = None,
        identity: Path | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        ask_home: bool = False,
    ) -> None:
        self._name = name
        self._ask_home = ask_home
        self._home: str | None = None
        self._user, self._host, self._port = user, host, port
        self._known_hosts = known_hosts
        self._identity = identity
        self._connect_timeout = connect_timeout
        self._conn: asyncssh.SSHClientConnection | None = None
        self._sftp: asyncssh.SFTPClient | None = None
        self._lock = asyncio.Lock()
        self._channels = asyncio.Semaphore(MAX_CHANNELS)
        self.round_trips = RoundTrips()
        self._agents = Agents(name, self._spawn, self.round_trips)

    @property
    def name(self) -> str:
        """The host as the user wrote it, e.g. "deploy@app-1"."""
        return self._name

    @property
    def home(self) -> str | None:
        """The SSH user's $HOME on the host, read once at connect when `ask_home` was given."""
        return self._home

    async def connect(self) -> None:
        """Open the connection once; HostKeyUnknown, HostUnreachable or HostError on failure."""
        await self._ensure_open()
        if self._ask_home and self._home is None:
            self._home = await self._read_home()

    async def _ensure_open(self) -> None:
        async with self._lock:
            if self._conn is None:
                self._conn = await self._open()

    async def _read_home(self) -> str:
        """$HOME as the host has it: a path with "~" is the host's, never the controller's."""
        result = await self.run(["printenv", "HOME"], timeout=CONNECT_TIMEOUT, check=False)
        home = result.stdout.strip()
        if not result.ok or not home.startswith("/"):
            raise HostError(
                f"{self._name} gives {self._user} no home directory ($HOME is "
                f'{home or "not set"}), which an app_dir starting with "~" needs; '
                "nothing was run there",
                hint="give this host an absolute app_dir in conveyor.toml",
            )
        return home.rstrip("/") or "/"

    async def _open(self) -> asyncssh.SSHClientConnection:
        known_hosts = self._known_hosts or default_known_hosts()
        recorder = KeyRecorder()
        options: dict[str, Any] = {}
        if self._identity is not None:
            if not self._identity.is_file():
                raise HostError(
                    f"the SSH key {self._identity} given for {self._name} does not exist"
                )
            # Like IdentitiesOnly: an explicit key is the only one offered.
            options.update(client_keys=[str(self._identity)], agent_path=None)
        where = f"{self._name} ({self._host}:{self._port})"
        try:
            return await asyncssh.connect(
                self._host,
                self._port,
                username=self._user,
                known_hosts=load_known_hosts(known_hosts),
                client_factory=lambda: recorder,
                connect_timeout=self._connect_timeout,
                # A host that vanishes (cable cut, kernel panic) is noticed in about
                # KEEPALIVE x 3 seconds, not when each pending command times out.
                keepalive_interval=KEEPALIVE,
                keepalive_count_max=3,
                **options,
            )
        except asyncssh.HostKeyNotVerifiable:
            message = refusal(self._name, self._host, self._port, known_hosts, recorder)
            raise HostKeyUnknown(message) from None
        except asyncssh.PermissionDenied as exc:
            raise HostError(
                f"{where} refused to log in {self._user}: {exc.reason}; nothing was run there.",
                hint="Check that the public key of this machine (or the --identity given) is in "
                f"~{self._user}/.ssh/authorized_keys on the host.",
            ) from None
        except (OSError, asyncio.TimeoutError, asyncssh.Error) as exc:
            raise HostUnreachable(
                f"cannot connect to {where}: {_cause(exc, self._connect_timeout)}; "
                "nothing was run there.",
                hint=f"Check that the host is up, that sshd listens on port {self._port} and "
                "that this machine can reach it.",
            ) from None

    async def _connection(self) -> asyncssh.SSHClientConnection:
        await self._ensure_open()
        assert self._conn is not None
        return self._conn

    def warm(self, interpreters: Sequence[str]) -> None:
        """Start these Pythons' agents now, in the background."""
        self._agents.warm(interpreters)

    async def open_files(self) -> None:
        """Start the SFTP session every later `get` and `put` uses (HostError when the host's
        sshd has no sftp subsystem)."""
        await self._sftp_client()

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
        """Run argv on the host; a timeout kills its process group and always raises."""
        args = tuple(argv)
        self.round_trips.ran(args)
        if (agent := await self._agents.get(args, env)) is not None:
            return await agent.run(
                args, timeout=timeout, env=env, stdin=stdin, cwd=cwd, check=check
            )
        conn = await self._connection()
        command = remote_command(args, timeout=timeout, env=env, cwd=cwd)
        async with self._channels:
            started = time.monotonic()
            try:
                process = await conn.create_process(command, encoding=None)
            except (asyncssh.Error, OSError) as exc:
                raise self._lost(exc) from None
            try:
                if stdin:
                    process.stdin.write(stdin)
                process.stdin.write_eof()
                # The host's timeout(1) fires first; the grace only covers a host without it.
                completed: asyncssh.SSHCompletedProcess | asyncssh.TimeoutError
                completed = await process.wait(timeout=timeout + _GRACE)
            except asyncssh.TimeoutError as exc:
                with contextlib.suppress(asyncssh.Error, OSError):
                    process.send_signal("KILL")
                completed = exc
            except (asyncssh.Error, OSError) as exc:  # the connection died (keepalive, reset)
                raise self._lost(exc) from None
            finally:
                process.close()
        stdout, stderr = decode(completed.stdout), decode(completed.stderr)
        timed_out = isinstance(completed, asyncssh.TimeoutError)
        code = completed.returncode
        if timed_out or (code in _KILLED and time.monotonic() - started >= timeout):
            raise command_timeout(self._name, args, timeout=timeout, stdout=stdout, stderr=stderr)
        if code is None:  # the channel closed without an exit status: the connection died
            raise self._lost(ConnectionResetError("the connection closed mid-command"))
        return checked(RunResult(self._name, args, code, stdout, stderr), check=check)

    async def _spawn(self, argv: Sequence[str]) -> Channel | None:
        """A long-lived command with its stdin and stdout (an agent); None when no channel
        opens for it (the command then runs as any other, and says why it cannot)."""
        conn = await self._connection()
        try:
            process = await conn.create_process(
                "exec " + shlex.join(argv), encoding=None, stderr=asyncssh.DEVNULL
            )
        except (asyncssh.Error, OSError):
            return None
        return _Process(process)

    def _lost(self, exc: BaseException) -> HostUnreachable:
        # Forget the dead connection (closed, not waited for) so the next call opens a fresh one.
        if self._conn is not None:
            self._conn.abort()
        self._conn, self._sftp = None, None
        return HostUnreachable(
            f"lost the connection to {self._name} ({self._host}:{self._port}): "
            f"{_cause(exc, self._connect_timeout)}"
        )

    async def _sftp_client(self) -> asyncssh.SFTPClient:
        conn = await self._connection()
        async with self._lock:
            if self._sftp is None:
                self.round_trips.opened("sftp start")
                try:
                    self._sftp = await conn.start_sftp_client()
                except asyncssh.ChannelOpenError as exc:
                    raise self._no_sftp(exc) from None
                except (asyncssh.Error, OSError) as exc:  # the connection died meanwhile
                    raise self._lost(exc) from None
            return self._sftp

    def _no_sftp(self, exc: asyncssh.ChannelOpenError) -> HostError:
        where = f"{self._name} ({self._host}:{self._port})"
        if exc.code != asyncssh.OPEN_REQUEST_SESSION_FAILED:
            return self._lost(exc)  # e.g. the connection closed under the request
        # What an sshd without a `Subsystem sftp ...` line answers to the subsystem request.
        return HostError(
            f"{where} refused SFTP: conveyor needs an sshd with the sftp subsystem",
            hint="On the host, add `Subsystem sftp internal-sftp` to /etc/ssh/sshd_config "
            "and reload sshd.",
        )

    async def put(self, data: bytes, path: str, *, mode: int = 0o644) -> None:
        """Write through SFTP to a temp file beside `path`, set its mode, then rename over."""
        self.round_trips.moved("put")
        try:
            await asyncio.wait_for(self._put(data, path, mode), FILE_TIMEOUT)
        except asyncio.TimeoutError:
            raise self._lost(
                ConnectionAbortedError(f"no answer within {FILE_TIMEOUT:g} s")
            ) from None

    async def _put(self, data: bytes, path: str, mode: int) -> None:
        sftp = await self._sftp_client()
        target = PurePosixPath(path)
        temp = str(target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp"))
        try:
            await sftp.makedirs(str(target.parent), exist_ok=True)
            async with sftp.open(temp, "wb") as handle:
                await handle.write(data)
            await sftp.chmod(temp, mode)
            await sftp.posix_rename(temp, path)
        except asyncssh.DisconnectError as exc:  # ConnectionLost: the host went away mid-write
            raise self._lost(exc) from None
        except (asyncssh.SFTPError, OSError) as exc:
            with contextlib.suppress(asyncssh.SFTPError, OSError):
                await sftp.remove(temp)
            raise HostError(f"cannot write {path} on {self._name}: {_cause(exc, 0)}") from None

    async def get(self, path: str) -> bytes:
        """Read a file through SFTP; FileNotFoundError when it does not exist."""
        self.round_trips.moved("get")
        try:
            return await asyncio.wait_for(self._get(path), FILE_TIMEOUT)
        except asyncio.TimeoutError:
            raise self._lost(
                ConnectionAbortedError(f"no answer within {FILE_TIMEOUT:g} s")
            ) from None

    async def _get(self, path: str) -> bytes:
        sftp = await self._sftp_client()
        try:
            async with sftp.open(path, "rb") as handle:
                data = await handle.read()
        except asyncssh.SFTPNoSuchFile:
            raise FileNotFoundError(f"{path} does not exist on {self._name}") from None
        except asyncssh.DisconnectError as exc:
            raise self._lost(exc) from None
        except (asyncssh.SFTPError, OSError) as exc:
            raise HostError(f"cannot read {path} on {self._name}: {_cause(exc, 0)}") from None
        assert isinstance(data, bytes)
        return data

    async def forward(self, host: str, port: int) -> tuple[str, int]:
        """A local address that reaches `host:port` as seen from the host (an SSH tunnel)."""
        conn = await self._connection()
        try:
            listener = await conn.forward_local_port("127.0.0.1", 0, host, port)
        except (OSError, asyncssh.Error) as exc:
            raise self._lost(exc) from None
        return "127.0.0.1", listener.get_port()

    async def close(self) -> None:
        """Close the agents, SFTP and the connection (and its tunnels); idempotent."""
        await self._agents.close()
        async with self._lock:
            sftp, self._sftp = self._sftp, None
            conn, self._conn = self._conn, None
        if sftp is not None:
            sftp.exit()
        if conn is not None:
            conn.close()
            # A vanished host never answers the close: don't wait for it.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(conn.wait_closed(), CLOSE_TIMEOUT)


class _Process:
    """An agent's SSH channel (hosts/agent.py's Channel)."""

    def __init__(self, process: asyncssh.SSHClientProcess[bytes]) -> None:
        self._process = process

    def write(self, data: bytes) -> None:
        self._process.stdin.write(data)

    async def read(self) -> bytes:
        try:
            return await self._process.stdout.read(1 << 16)
        except (asyncssh.Error, OSError):
            return b""

    async def close(self) -> None:
        self._process.close()
        with contextlib.suppress(asyncio.TimeoutError, asyncssh.Error, OSError):
            await asyncio.wait_for(self._process.wait_closed(), CLOSE_TIMEOUT)

    def abandon(self) -> None:
        with contextlib.suppress(Exception):
            self._process.close()


def _cause(exc: BaseException, timeout: float) -> str:
    """A few words on why, for a person: "connection refused", "no answer within 10 s"."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return "the name does not resolve"
    if isinstance(exc, asyncio.TimeoutError):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, (asyncssh.DisconnectError, asyncssh.SFTPError)):
        return exc.reason
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower() if exc.strerror[:1].isupper() else exc.strerror
    return str(exc) or type(exc).__name__
