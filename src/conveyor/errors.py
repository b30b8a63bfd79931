"""Errors a person can act on.

Every foreseeable failure is one of these; the CLI boundary prints the message
and exits 1 without a traceback. A message says what failed, where, what was
done about it, and what to do next.

    ConveyorError
     +-- ConfigError            conveyor.toml / pyproject.toml is missing or invalid
     |    +-- EnvFileError      a .env file cannot be read at all
     |    +-- SchemaError       the settings schema (.env.example or a class) cannot be read
     +-- InitError              conveyor init would overwrite or cannot detect
     +-- NotAvailable           a command group that is not built yet (exit 2)
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


class InitError(ConveyorError):
    """`conveyor init` cannot proceed (e.g. it would overwrite a file)."""


class NotAvailable(ConveyorError):
    """A command that exists in the design but is not built yet."""

    exit_code = 2
