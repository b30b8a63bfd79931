"""`conveyor config render`: the exact `.env` a host gets, written with mode 0600."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

from conveyor.settings.resolve import Resolved

_BARE = re.compile(r"^[A-Za-z0-9_./:@%+,=-]*$")


def quote(value: str) -> str:
    """The value as a `.env` file writes it: bare when safe, else double-quoted and escaped."""
    if _BARE.match(value):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def render_env(values: Mapping[str, Resolved], *, environment: str, source: str) -> str:
    """The file's text: a header, then KEY=value in schema order."""
    lines = [f"# {environment}: rendered by conveyor from {source}; edit that file, not this one"]
    lines += [f"{item.key}={quote(item.value)}" for item in values.values()]
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600: the file is never visible half-written or to others."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
