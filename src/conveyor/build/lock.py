"""A release's locked requirements: from uv.lock, requirements.txt or pyproject.toml.

The first of these the commit holds is the source; `requirements.txt` is the
runtime file (others such as requirements-dev.txt count only when it includes
them with `-r`). The lock is the sorted, de-duplicated pin lines; its hash is the
sha256 of exactly the text written to `requirements.lock`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

from conveyor.build.requirements import Pin, Reader, read_requirements
from conveyor.build.resolve import PYPROJECT, project_dependencies, resolve_dependencies
from conveyor.build.uvlock import UV_LOCK, export_uv_lock
from conveyor.errors import BuildError
from conveyor.project.load import parse_toml

REQUIREMENTS = "requirements.txt"
NO_SOURCE = "none"
NOT_LOCKED = (
    f"this release is not locked: no {UV_LOCK} or {REQUIREMENTS}, so its pins were resolved "
    f"now from the version ranges in {PYPROJECT} and a later build may get others; "
    f"run: uv lock, and commit {UV_LOCK}"
)
UNPINNED_HINT = "nothing was built; pin every requirement, or build for a development environment"


@dataclass(frozen=True)
class Lock:
    """The pinned requirements of a release and where they came from."""

    source: str
    lines: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The contents of `requirements.lock`: one requirement a line."""
        return "".join(f"{line}\n" for line in self.lines)

    @property
    def hash(self) -> str:
        """sha256 (hex) of `text`: equal locks, equal hashes, one venv on a host."""
        return hashlib.sha256(self.text.encode()).hexdigest()


def lock_requirements(
    read: Reader,
    *,
    strict: str | None,
    python: str,
    cache: Path,
    workspace: tuple[str, str] | None = None,
) -> Lock:
    """The lock for the files `read` returns; unpinned ones fail when `strict` names an env.

    `workspace` is (path, text) of the root `uv.lock` of a uv workspace above the project:
    a member's release takes its part of that lock.
    """
    uv_lock = read(UV_LOCK)
    if uv_lock is not None:
        return make_lock(UV_LOCK, export_uv_lock(uv_lock), strict=strict)
    if read(REQUIREMENTS) is not None:
        return make_lock(REQUIREMENTS, read_requirements(REQUIREMENTS, read), strict=strict)
    pyproject = read(PYPROJECT)
    dependencies = None
    data = parse_toml(pyproject, shown=PYPROJECT) if pyproject is not None else {}
    name = data.get("project", {}).get("name") if isinstance(data.get("project"), dict) else None
    if workspace is not None and isinstance(name, str):
        shown, text = workspace
        pins = export_uv_lock(text, member=name, shown=shown)
        return make_lock(f"{shown} (workspace member {name})", pins, strict=strict)
    if pyproject is not None:
        dependencies = project_dependencies(data)
    if dependencies is None:
        return Lock(
            NO_SOURCE,
            (),
            (f"no {UV_LOCK}, {REQUIREMENTS} or [project] dependencies: the lock is empty",),
        )
    pins = resolve_dependencies(dependencies, python=python, cache=cache)
    lock = make_lock(PYPROJECT, pins, strict=strict)
    return replace(lock, warnings=(*lock.warnings, NOT_LOCKED))


def make_lock(source: str, pins: tuple[Pin, ...], *, strict: str | None) -> Lock:
    """Check and normalise pins: unpinned ones fail when `strict` names an env, else warn."""
    problems = [_unpinned(pin, strict) for pin in pins if not pin.pinned]
    if problems and strict:
        raise BuildError("\n".join(problems), hint=UNPINNED_HINT)
    chosen: dict[tuple[str, str | None], Pin] = {}
    for pin in pins:
        # The same package twice is fine when both say the same; two versions cannot both win.
        earlier = chosen.setdefault((pin.name, pin.marker), pin)
        if earlier.line() != pin.line():
            raise BuildError(
                f"{pin.where}: {pin.name} is required as {pin.line()!r} here "
                f"and as {earlier.line()!r} at {earlier.where}",
                hint="keep one of them",
            )
    # By name first, so "pydantic" comes before "pydantic-settings" as a person expects.
    lines = tuple(p.line() for p in sorted(chosen.values(), key=lambda p: (p.name, p.line())))
    return Lock(source, lines, tuple(problems))


def _unpinned(pin: Pin, strict: str | None) -> str:
    extras = f"[{','.join(pin.extras)}]" if pin.extras else ""
    # Name the environment that refuses it: "production" was said for staging builds too.
    why = (
        f"a release for {strict} must be reproducible"
        if strict
        else "a staging or production release would refuse it"
    )
    return f"{pin.where}: {pin.name} is not pinned (use {pin.name}{extras}==X.Y.Z); {why}"
