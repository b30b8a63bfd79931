"""Value types of conveyor.toml (names, hosts, durations, commands, paths) and its section base."""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
_HOSTNAME = r"([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:.]+\])"
HOST_PATTERN = rf"^(local|[A-Za-z_][A-Za-z0-9_.-]*@{_HOSTNAME}(:[0-9]{{1,5}})?)$"
DURATION_PATTERN = r"^[0-9]+(ms|s|m|h)$"
CLASS_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$"
PYTHON_PATTERN = r"^3\.[0-9]{1,2}$"
URL_PATTERN = r"^[A-Za-z][A-Za-z0-9+.-]*://.+$"

_UNITS = {
    "ms": timedelta(milliseconds=1),
    "s": timedelta(seconds=1),
    "m": timedelta(minutes=1),
    "h": timedelta(hours=1),
}


class Section(BaseModel):
    """Base of every section: unknown keys are errors, types are strict, values frozen."""

    # Strict: TOML has real booleans and integers, so "yes" or 1.5 for them is a mistake.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, populate_by_name=True)


def show(value: object) -> str:
    """Render a value the way it would be written in TOML, for error messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        return "{}" if not value else "a table"
    if isinstance(value, list):
        return "[]" if not value else "an array"
    return str(value)


def _matching(pattern: str, expected: str) -> AfterValidator:
    def check(value: str) -> str:
        if not re.fullmatch(pattern, value):
            raise ValueError(f"expected {expected}, got {show(value)}")
        return value

    return AfterValidator(check)


def _schema(format_: str, **extra: Any) -> WithJsonSchema:
    return WithJsonSchema({"type": "string", "format": format_, **extra})


@dataclass(frozen=True)
class HostAddress:
    """One host of a role: `local`, or an SSH user, host and optional port."""

    user: str | None
    host: str
    port: int | None = None

    @property
    def is_local(self) -> bool:
        """True for the machine conveyor runs on (no SSH)."""
        return self.user is None


def parse_host(value: str) -> HostAddress:
    """Split "user@host[:port]" (or "local") into its parts."""
    if value == "local":
        return HostAddress(user=None, host="localhost")
    user, _, rest = value.partition("@")
    host, port = rest, None
    # An IPv6 address is written in brackets so that its colons are not taken as a port.
    if re.search(r":[0-9]+$", rest) and not rest.endswith("]"):
        host, _, digits = rest.rpartition(":")
        port = int(digits)
    return HostAddress(user=user, host=host.strip("[]"), port=port)


def _check_host(value: str) -> str:
    address = parse_host(value) if re.fullmatch(HOST_PATTERN, value) else None
    if address is None or (address.port is not None and not 0 < address.port < 65536):
        raise ValueError(f'expected "user@host", "user@host:port" or "local", got {show(value)}')
    return value


def parse_duration(value: object) -> timedelta:
    """Parse "500ms", "30s", "15m" or "1h" into a timedelta."""
    if isinstance(value, timedelta):
        return value
    match = re.fullmatch(DURATION_PATTERN, value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f'expected a duration like "500ms", "30s", "15m" or "1h", got {show(value)}'
        )
    return int(match.string[: match.start(1)]) * _UNITS[match.group(1)]


def format_duration(value: timedelta) -> str:
    """The shortest of "1h", "15m", "30s", "500ms" that says `value` exactly."""
    millis = round(value.total_seconds() * 1000)
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if millis and millis % size == 0:
            return f"{millis // size}{unit}"
    return f"{millis}ms"


def _check_batch(value: object) -> int | str:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    if (
        isinstance(value, str)
        and re.fullmatch(r"[0-9]{1,3}%", value)
        and 0 < int(value[:-1]) <= 100
    ):
        return value
    raise ValueError(
        f'expected a number of hosts >= 1 or a percentage like "25%", got {show(value)}'
    )


def _check_shell_command(value: str) -> str:
    try:
        argv = shlex.split(value)
    except ValueError as error:
        raise ValueError(f"cannot split {show(value)} into arguments: {error}") from None
    if not argv:
        raise ValueError(f"expected a command, got {show(value)}")
    return value


def _check_relative(value: str) -> str:
    path = PurePosixPath(value)
    if not value or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"expected a path inside the project, got {show(value)}")
    return value


def _check_absolute(value: str) -> str:
    if not PurePosixPath(value).is_absolute():
        raise ValueError(f"expected an absolute path, got {show(value)}")
    return value


# The system's own directories: a sync writes files into its target and deletes the ones it
# wrote before, so a target in one of these could replace or remove what the system runs on.
SYSTEM_DIRS = (
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/sys",
    "/usr",
    "/var/lib/dpkg",
    "/var/lib/apt",
)


def _check_sync_target(value: str) -> str:
    _check_absolute(value)
    normal = posixpath.normpath(value)
    normal = "/" + normal.lstrip("/")  # normpath keeps a leading "//"
    why = "a sync writes files into it and deletes the ones it wrote before"
    advice = 'give it a directory of its own, e.g. "/opt/airflow/dags"'
    if normal == "/":
        raise ValueError(f"{show(value)} is the root directory; {why}: {advice}")
    system = next((d for d in SYSTEM_DIRS if normal == d or normal.startswith(d + "/")), None)
    if system is not None:
        shown = show(value) if normal == value else f"{show(value)} ({normal})"
        raise ValueError(f"{shown} is in the system directory {system}; {why}: {advice}")
    if normal.count("/") < 2:
        shown = show(value) if normal == value else f"{show(value)} ({normal})"
        raise ValueError(f"{shown} is a top-level directory, shared with others; {why}: {advice}")
    return value


# Names become directories, supervisor programs and socket paths on the hosts.
NAME_MAX = 63


def _check_name_length(value: str) -> str:
    if len(value) > NAME_MAX:
        raise ValueError(f"expected at most {NAME_MAX} characters, got {len(value)}")
    return value


Name = Annotated[
    str,
    _matching(NAME_PATTERN, 'lowercase letters, digits, "-" or "_"'),
    AfterValidator(_check_name_length),
    _schema("name", pattern=NAME_PATTERN, maxLength=NAME_MAX),
]
Host = Annotated[str, AfterValidator(_check_host), _schema("host", pattern=HOST_PATTERN)]
Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    _schema("duration", pattern=DURATION_PATTERN),
]
ClassPath = Annotated[
    str,
    _matching(CLASS_PATTERN, '"package.module:Name"'),
    _schema("class path", pattern=CLASS_PATTERN),
]
PythonVersion = Annotated[
    str,
    _matching(PYTHON_PATTERN, 'a Python version like "3.11"'),
    _schema("python version", pattern=PYTHON_PATTERN),
]
NotifyUrl = Annotated[
    str,
    _matching(URL_PATTERN, 'an apprise URL like "slack://..."'),
    _schema("apprise url", pattern=URL_PATTERN),
]
UrlPath = Annotated[
    str, _matching(r"^/.*$", 'a path starting with "/"'), _schema("url path", pattern=r"^/")
]
RelativePath = Annotated[str, AfterValidator(_check_relative), _schema("relative path")]
SyncTarget = Annotated[str, AfterValidator(_check_sync_target), _schema("sync target")]
ShellCommand = Annotated[str, AfterValidator(_check_shell_command), _schema("command")]
Argv = Annotated[
    list[str],
    Field(min_length=1),
    WithJsonSchema({"type": "array", "items": {"type": "string"}, "minItems": 1, "format": "argv"}),
]
Batch = Annotated[
    int | str,
    PlainValidator(_check_batch),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": "^[0-9]+%$"},
            ],
            "format": "batch",
        }
    ),
]
