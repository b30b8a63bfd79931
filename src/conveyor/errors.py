"""Errors a person can act on.

Every foreseeable failure is one of these; the CLI boundary prints the message
and exits 1 without a traceback. A message says what failed, where, what was
done about it, and what to do next.

    ConveyorError
     +-- ConfigError            conveyor.toml / pyproject.toml is missing or invalid
     |    +-- EnvFileError      a .env file cannot be read at all
     |    +-- SchemaError       the settings schema (.env.example or a class) cannot be read
     +-- NotAvailable           a command group that is not built yet (exit 2)
 +-- AwaitingApproval       a deploy waits for approvals (exit 3): what it needs, from whom
     +-- HostError              a host cannot be reached or refuses us
     |    +-- HostUnreachable   connection refused, timed out, DNS failure
     |    +-- HostKeyUnknown    the host key is not in known_hosts (or changed)
     +-- LockHeld               another deploy of the environment is running
     +-- CommandFailed          a command on a host exited non-zero
     |    +-- CommandTimeout    ... or did not finish in time
     |    +-- StartFailed       ... a program supervisor was asked to start did not stay up
     +-- DeployFailed           a deploy step failed (`cause`: probe timeline, log tail)
 +-- RollbackFailed         a rollback could not finish (`left`: hosts it could not put right)
 +-- RecoveryFailed         a host could not be brought to the environment's one release
     +-- BuildError             a release cannot be built (git, dirty tree, unpinned requirements)
     +-- ExportError            generated files cannot be written, or the committed ones are stale
"""

from __future__ import annotations


class ConveyorError(Exception):
    """Base class: `str(error)` is the message for a person."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n{self.hint}"
        return self.message


class ConfigError(ConveyorError):
    """The project configuration is missing or invalid."""


class EnvFileError(ConfigError):
    """A `.env` file cannot be read (missing, unreadable, not UTF-8)."""


class SchemaError(ConfigError):
    """The settings schema cannot be read from `.env.example` or a settings class."""


class NotAvailable(ConveyorError):
    """A command that exists in the design but is not built yet."""

    exit_code = 2


class AwaitingApproval(ConveyorError):
    """A deploy is recorded as a request and waits for its approvals; nothing was deployed."""

    exit_code = 3


class HostError(ConveyorError):
    """A host cannot be reached or refuses the connection."""


class HostUnreachable(HostError):
    """Connection refused, timed out or the name does not resolve."""


class HostKeyUnknown(HostError):
    """The host's key is not in known_hosts, or differs from the one there."""


class CommandFailed(ConveyorError):
    """A command on a host exited non-zero: host, argv, exit code, tail of output."""

    def __init__(
        self, message: str, *, host: str, argv: tuple[str, ...], exit_code: int, output: str
    ) -> None:
        super().__init__(message)
        self.host = host
        self.argv = argv
        self.exit_code_on_host = exit_code
        self.output = output


class CommandTimeout(CommandFailed):
    """A command on a host did not finish within its timeout."""


class StartFailed(CommandFailed):
    """Programs supervisor was asked to start did not stay up (`programs` names them)."""

    def __init__(
        self,
        message: str,
        *,
        host: str,
        argv: tuple[str, ...],
        exit_code: int,
        output: str,
        programs: tuple[str, ...],
    ) -> None:
        super().__init__(message, host=host, argv=argv, exit_code=exit_code, output=output)
        self.programs = programs


class RollbackFailed(ConveyorError):
    """A rollback could not finish: `left` names the hosts it could not put right."""

    def __init__(
        self, message: str, *, hint: str | None = None, left: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, hint=hint)
        self.left = left


class BuildError(ConveyorError):
    """A release cannot be built: not a git commit, a dirty tree, unpinned requirements."""


class ExportError(ConveyorError):
    """Generated files (workflows, Dockerfile, compose) cannot be written or are stale."""


class LockHeld(ConveyorError):
    """Another deploy of the same environment holds the lock."""


class DeployFailed(ConveyorError):
    """A deploy step failed; carries the cause for the record (health timeline, log tail)."""

    def __init__(self, message: str, *, cause: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.cause = cause


class RecoveryFailed(ConveyorError):
    """A host could not be brought to the environment's consistent release."""
