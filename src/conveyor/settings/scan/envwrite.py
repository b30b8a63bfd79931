"""Where --fix puts the values it takes out of the code: .env files and .gitignore."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path

from conveyor.settings.envfile import parse_env
from conveyor.settings.render import quote


def _append(old: str | None, lines: Sequence[str], header: str) -> str:
    text = old or ""
    if text and not text.endswith("\n"):
        text += "\n"
    if text:
        text += "\n"
    return text + "\n".join([header, *lines]) + "\n"


def add_values(old: str | None, values: Sequence[tuple[str, str]], *, path: Path) -> str | None:
    """The env file with the keys it lacks; None when it has them all already."""
    present = set(parse_env(old, path=path).values()) if old is not None else set()
    lines = [f"{key}={quote(value)}" for key, value in values if key not in present]
    if not lines:
        return None
    return _append(old, lines, "# moved here from the code by conveyor scan --fix")


def add_placeholders(
    old: str | None, keys: Sequence[tuple[str, str | None]], *, path: Path
) -> str | None:
    """The template with each missing key set to a `<KEY>` placeholder and its type."""
    present = set(parse_env(old, path=path).values()) if old is not None else set()
    lines = [
        f"{key}=<{key}>" + (f"  # {kind}" if kind else "")
        for key, kind in keys
        if key not in present
    ]
    if not lines:
        return None
    return _append(old, lines, "# added by conveyor scan --fix; the values are in .env.development")


def ignored(gitignore: str, name: str) -> bool:
    """True when a .gitignore text already ignores a top-level file of this name."""
    verdict = False
    for raw in gitignore.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        pattern = line.lstrip("!").lstrip("/")
        if fnmatch.fnmatchcase(name, pattern):
            verdict = not negated
    return verdict


def add_ignore(old: str | None, name: str) -> str | None:
    """The .gitignore with `name` added; None when it is ignored already."""
    if old is not None and ignored(old, name):
        return None
    return _append(old, [name], "# per-environment values never go to git")
