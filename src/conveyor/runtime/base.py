"""What a runtime runs (`Program`), what it reports (`ProgramStatus`) and its protocol.

A runtime is a set of builders: it renders program definitions and returns argv
lists that start, stop and inspect them. It never runs anything itself; the
deploy executor sends the argv through a host connector. Supervisor is the
default; a systemd runtime (user units) fits the same protocol.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from conveyor.errors import ConfigError

ProgramState = Literal[
    "stopped", "starting", "running", "backoff", "stopping", "exited", "fatal", "unknown"
]
StopSignal = Literal["TERM", "INT", "QUIT", "HUP", "KILL", "USR1", "USR2"]
PROGRAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Program:
    """One process the runtime keeps running, e.g. `web-blue` or `worker-<release>`."""

    name: str
    argv: tuple[str, ...]
    cwd: str
    stdout_log: str
    env: Mapping[str, str] = field(default_factory=dict)
    stopsignal: StopSignal = "TERM"
    # The drain timeout: how long a graceful stop may take before SIGKILL.
    stopwaitsecs: int = 30
    autorestart: bool | Literal["unexpected"] = True
    # Seconds a process must stay up to count as started (supervisor's startsecs).
    startsecs: int = 1
    # False: `update` only registers the program and the deploy starts it explicitly.
    autostart: bool = False

    def __post_init__(self) -> None:
        if not PROGRAM_NAME.fullmatch(self.name):
            raise ValueError(f"program name {self.name!r} must match {PROGRAM_NAME.pattern}")
        if not self.argv:
            raise ValueError(f"program {self.name!r} has an empty argv")
        if self.stopwaitsecs < 0 or self.startsecs < 0:
            raise ValueError(f"program {self.name!r}: stopwaitsecs and startsecs must be >= 0")


@dataclass(frozen=True)
class ProgramStatus:
    """One program as the runtime reports it."""

    name: str
    state: ProgramState
    pid: int | None
    description: str

    @property
    def running(self) -> bool:
        """True when the process is up and past its start period."""
        return self.state == "running"


class Runtime(Protocol):
    """Builders for one app's runtime on one host."""

    def files(self) -> dict[str, str]:
        """The runtime's own config files by path on the host; write them before anything else."""
        ...

    def boot_argv(self) -> list[str]:
        """Argv that starts the runtime itself; run it when `unreachable` says so."""
        ...

    def unreachable(self, status_exit_code: int) -> bool:
        """True when `status_argv` exited this way because the runtime is not running."""
        ...

    def alive_argv(self, python: str) -> list[str]:
        """Argv run with the host's `python` that exits as `status_argv` does when the runtime
        is not running, without asking it anything (no program of the runtime's starts)."""
        ...

    def program_path(self, name: str) -> str:
        """Where the definition of program `name` is written on the host."""
        ...

    def render_program(self, program: Program) -> str:
        """The text of the program's definition file."""
        ...

    def apply_argv(self) -> list[str]:
        """Argv that makes the runtime pick up added, changed and removed definitions."""
        ...

    def start_argv(self, name: str) -> list[str]:
        """Argv that starts a program and waits until it counts as started."""
        ...

    def stop_argv(self, name: str) -> list[str]:
        """Argv that stops a program gracefully (its stop signal, then SIGKILL after the drain)."""
        ...

    def shutdown_argv(self) -> list[str]:
        """Argv that stops every program gracefully, then the runtime itself."""
        ...

    def status_argv(self) -> list[str]:
        """Argv that prints the state of every program."""
        ...

    def parse_status(self, output: str) -> dict[str, ProgramStatus]:
        """Program states by name from the output of `status_argv`."""
        ...


# sun_path holds 108 bytes including the terminating NUL.
UNIX_SOCKET_MAX = 107


def runtime_dir(app_dir: str) -> str:
    """`<app_dir>/runtime`: supervisor's and Caddy's files."""
    return posixpath.join(app_dir, "runtime")


def supervisord_conf_path(app_dir: str) -> str:
    """The main supervisord config file."""
    return posixpath.join(runtime_dir(app_dir), "supervisord.conf")


def supervisor_socket_path(app_dir: str) -> str:
    """The unix socket supervisorctl talks to."""
    return socket_path(app_dir, "supervisor.sock")


def program_conf_path(app_dir: str, name: str) -> str:
    """Where program `name`'s config file goes."""
    return posixpath.join(runtime_dir(app_dir), "programs", f"{name}.conf")


def socket_path(app_dir: str, name: str) -> str:
    """`<app_dir>/runtime/<name>`, or the same name in a short per-app directory.

    Unix socket paths hold at most 107 bytes, and a project deep in a home directory
    exceeds that; the short directory is `/tmp/conveyor-<hash of app_dir>`, derived so
    that every caller finds the same socket, created mode 0700 and checked before use
    (`socket_dir_argv`).
    """
    path = posixpath.join(app_dir, "runtime", name)
    if len(path.encode()) <= UNIX_SOCKET_MAX:
        return path
    return check_socket_path(posixpath.join(socket_dir(app_dir), name))


def socket_dir(app_dir: str) -> str:
    """The directory the app's sockets live in."""
    if len(posixpath.join(app_dir, "runtime", "caddy-admin.sock").encode()) <= UNIX_SOCKET_MAX:
        return posixpath.join(app_dir, "runtime")
    return f"/tmp/conveyor-{hashlib.sha256(app_dir.encode()).hexdigest()[:16]}"


# Runs on the host: make the socket directory ours alone, or refuse one someone else made.
_SOCKET_DIR = r"""
import os, stat, sys
path = sys.argv[1]
os.makedirs(path, mode=0o700, exist_ok=True)
info = os.lstat(path)
private = stat.S_ISDIR(info.st_mode) and not stat.S_IMODE(info.st_mode) & 0o077
if not private or info.st_uid != os.getuid():
    sys.exit(f"{path} is not a private directory of this user; remove it and retry")
"""


def socket_dir_argv(app_dir: str, python: str = "python3") -> list[str]:
    """Create (or verify) the socket directory with mode 0700."""
    return [python, "-c", _SOCKET_DIR, socket_dir(app_dir)]


def check_socket_path(path: str) -> str:
    """`path` unchanged, or a ConfigError when it is too long for a unix socket."""
    size = len(path.encode())
    if size > UNIX_SOCKET_MAX:
        raise ConfigError(
            f"socket path {path} has {size} bytes; unix sockets allow {UNIX_SOCKET_MAX}",
            hint="Choose a shorter app_dir for the environment.",
        )
    return path
