"""The connector protocol: the only code that knows how to reach a host.

Executors call `run` with argv lists (never shell strings) and `put`/`get` with
absolute POSIX paths on the host. A connector is opened once per deploy and
reused for every command (pyinfra's connectors/base.py has the same shape).
Both connectors also count their round trips (`round_trips`, hosts/trips.py); the
protocol leaves that out, so a test's fake connector need not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class RunResult:
    """What a command did on a host."""

    host: str
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.exit_code == 0


class Connector(Protocol):
    """How conveyor reaches one host."""

    @property
    def name(self) -> str:
        """The host as the user wrote it: "local" or "deploy@app-1"."""
        ...

    async def connect(self) -> None:
        """Open the connection (verifying the host key for SSH); idempotent."""
        ...

    @property
    def home(self) -> str | None:
        """The login user's home on the host ($HOME), known once connected when the
        connector was asked for it (`ask_home`); None otherwise."""
        ...

    def warm(self, interpreters: Sequence[str]) -> None:
        """Start these Pythons' host agents in the background (hosts/agent.py), so that
        the first script each runs does not wait for one; nothing for a connector without."""
        ...

    async def open_files(self) -> None:
        """Open the channel later file reads and writes use (SFTP over SSH) now: HostError,
        naming the host and what it lacks, when it cannot; nothing for a local host."""
        ...

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
        """Run argv; with `check` a non-zero exit raises CommandFailed; a timeout always raises."""
        ...

    async def put(self, data: bytes, path: str, *, mode: int = 0o644) -> None:
        """Write `data` to `path` atomically (temp file + rename), creating parent dirs."""
        ...

    async def get(self, path: str) -> bytes:
        """Read a file from the host; FileNotFoundError when it does not exist."""
        ...

    async def forward(self, host: str, port: int) -> tuple[str, int]:
        """A local (address, port) reaching `host:port` as the host sees it (tunnel for SSH)."""
        ...

    async def close(self) -> None:
        """Close the connection; idempotent."""
        ...
