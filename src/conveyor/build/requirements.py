"""Requirement lines (a PEP 508 subset) and requirements.txt files with their `-r` includes."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass

from conveyor.errors import BuildError

# A file's text by its path relative to the project, or None when the commit lacks it.
Reader = Callable[[str], "str | None"]

_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*"
    r"(?:\[(?P<extras>[^\]]*)\])?\s*(?P<rest>[^;]*?)\s*(?:;\s*(?P<marker>.*?))?\s*$"
)
_PINNED = re.compile(r"^===?(?P<version>[^,*<>=!~\s]+)$")
_INCLUDE = ("-r", "--requirement")
_EDITABLE = ("-e", "--editable")


def canonical_name(name: str) -> str:
    """PEP 503 normalised name: lowercase, runs of "-", "_" and "." become "-"."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Pin:
    """One requirement in normal form; pinned when `spec` is `==X` or it has a URL."""

    name: str
    spec: str = ""
    extras: tuple[str, ...] = ()
    marker: str | None = None
    where: str = ""

    @property
    def pinned(self) -> bool:
        """True when this names exactly one version (or one URL)."""
        return self.spec.startswith("@ ") or _PINNED.match(self.spec) is not None

    def line(self) -> str:
        """The requirement as one requirements-file line, e.g. `psycopg[binary]==3.3.9`."""
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        spec = f" {self.spec}" if self.spec.startswith("@ ") else self.spec
        marker = f" ; {self.marker}" if self.marker else ""
        return f"{self.name}{extras}{spec}{marker}"


def parse_requirement(text: str, *, where: str = "") -> Pin:
    """Parse `name[extras] spec ; marker` or `name @ url`; ValueError when it is neither."""
    match = _REQUIREMENT.match(text.strip())
    if match is None:
        raise ValueError(f"cannot read requirement {text.strip()!r}")
    rest = match.group("rest")
    if rest.startswith("@"):
        spec = f"@ {rest[1:].strip()}"
    else:
        spec = re.sub(r"\s+", "", rest.strip("()").strip())
        if spec and not re.match(r"^(===?|~=|!=|<=?|>=?)", spec):
            raise ValueError(f"cannot read requirement {text.strip()!r}")
    extras = tuple(
        sorted(
            canonical_name(e.strip()) for e in (match.group("extras") or "").split(",") if e.strip()
        )
    )
    marker = " ".join(match.group("marker").split()) if match.group("marker") else None
    return Pin(canonical_name(match.group("name")), spec, extras, marker, where)


def read_requirements(path: str, read: Reader) -> tuple[Pin, ...]:
    """Every requirement of `path` and the files it includes with `-r`, in order."""
    text = read(path)
    if text is None:
        raise BuildError(f"{path}: no such file in the commit")
    return tuple(_parse_file(path, text, read, seen=(path,)))


def _parse_file(path: str, text: str, read: Reader, *, seen: tuple[str, ...]) -> list[Pin]:
    pins: list[Pin] = []
    for number, line in _logical_lines(text):
        where = f"{path}:{number}"
        words = line.split()
        option, argument = _option(words)
        if option in _INCLUDE:
            included = posixpath.normpath(posixpath.join(posixpath.dirname(path), argument))
            if included in seen:
                raise BuildError(
                    f"{where}: {option} {argument} includes itself (via {' -> '.join(seen)})"
                )
            body = read(included)
            if body is None:
                raise BuildError(f"{where}: {option} {argument}: no such file in the commit")
            pins.extend(_parse_file(included, body, read, seen=(*seen, included)))
        elif option in _EDITABLE:
            raise BuildError(
                f"{where}: {option} {argument} is an editable install, which a release cannot lock",
                hint="list the package pinned (name==X.Y.Z) or make it part of the app",
            )
        elif option is not None:
            continue  # index, constraint and install options do not add requirements
        else:
            requirement = " ".join(w for w in words if not w.startswith("--hash"))
            try:
                pins.append(parse_requirement(requirement, where=where))
            except ValueError as error:
                raise BuildError(f"{where}: {error}") from None
    return pins


def _option(words: list[str]) -> tuple[str | None, str]:
    """(`-r`, "base.txt") for an option line, (None, "") for a requirement."""
    first = words[0]
    if not first.startswith("-"):
        return None, ""
    if "=" in first and first.startswith("--"):
        name, _, value = first.partition("=")
        return name, value
    for short in ("-r", "-e", "-c"):
        if first.startswith(short) and len(first) > 2:
            return short, first[2:]
    return first, words[1] if len(words) > 1 else ""


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) with comments dropped and backslash continuations joined."""
    lines: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        start, before = pending if pending else (number, "")
        pending = None
        if line.endswith("\\"):
            pending = (start, f"{before}{line[:-1]} ")
            continue
        joined = f"{before}{line}".strip()
        if joined:
            lines.append((start, joined))
    if pending and pending[1].strip():
        lines.append((pending[0], pending[1].strip()))
    return lines
