"""The errors a connector raises for a command: what ran, where, and the tail of its output."""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from conveyor.errors import CommandFailed, CommandTimeout
from conveyor.hosts.base import RunResult

TAIL_LINES = 20


def output_tail(stdout: str, stderr: str, *, lines: int = TAIL_LINES) -> str:
    """The last `lines` lines of stdout then stderr (stderr last: it usually says why)."""
    combined = stdout.splitlines() + stderr.splitlines()
    return "\n".join(combined[-lines:])


def _describe_output(tail: str) -> str:
    if not tail.strip():
        return "It printed nothing."
    shown = "\n".join(f"  | {line}" for line in tail.splitlines())
    return f"Last lines of its output:\n{shown}"


def command_failed(result: RunResult) -> CommandFailed:
    """The CommandFailed for a finished command that exited non-zero."""
    tail = output_tail(result.stdout, result.stderr)
    message = (
        f"command failed on {result.host} with exit code {result.exit_code}: "
        f"{shlex.join(result.argv)}\n{_describe_output(tail)}"
    )
    return CommandFailed(
        message, host=result.host, argv=result.argv, exit_code=result.exit_code, output=tail
    )


def command_timeout(
    host: str, argv: Sequence[str], *, timeout: float, stdout: str, stderr: str
) -> CommandTimeout:
    """The CommandTimeout for a command that was killed after `timeout` seconds."""
    tail = output_tail(stdout, stderr)
    args = tuple(argv)
    message = (
        f"command timed out after {timeout:g} s on {host} and was killed: "
        f"{shlex.join(args)}\n{_describe_output(tail)}"
    )
    # -9 is how subprocess reports a process killed by SIGKILL.
    return CommandTimeout(message, host=host, argv=args, exit_code=-9, output=tail)


def checked(result: RunResult, *, check: bool) -> RunResult:
    """Return `result`, or raise CommandFailed when `check` is set and it exited non-zero."""
    if check and not result.ok:
        raise command_failed(result)
    return result


def decode(data: bytes | str | None) -> str:
    """Command output as text; bytes that are not UTF-8 are replaced, never fatal."""
    if data is None:
        return ""
    if isinstance(data, str):
        return data
    return data.decode("utf-8", errors="replace")
