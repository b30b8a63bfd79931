"""The project's Python requirement (pyproject `requires-python`) and what meets it."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# Minor versions init may choose from, oldest first.
_MINORS = tuple(f"3.{minor}" for minor in range(8, 20))


def requires_python_text(root: Path) -> str | None:
    """`[project] requires-python` of root/pyproject.toml as written, when it is valid."""
    path = root / "pyproject.toml"
    with contextlib.suppress(OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        project = tomllib.loads(path.read_text(encoding="utf-8")).get("project", {})
        given = project.get("requires-python") if isinstance(project, dict) else None
        if isinstance(given, str):
            with contextlib.suppress(InvalidSpecifier):
                SpecifierSet(given)
                return given.strip()
    return None


def requires_python(root: Path) -> SpecifierSet | None:
    """The requirement as a specifier set, or None (none given, or unreadable)."""
    text = requires_python_text(root)
    return None if text is None else SpecifierSet(text)


def minor_allowed(spec: SpecifierSet, minor: str) -> bool:
    """True when some release of `minor` ("3.11") meets the requirement."""
    # ">=3.11.4" is met by a later 3.11.x, "<3.12" by every one: try the first and a late one.
    return any(spec.contains(f"{minor}.{patch}", prereleases=True) for patch in (0, 99))


def version_allowed(spec: SpecifierSet, version: str) -> bool:
    """True when the exact version ("3.11.7") meets the requirement."""
    try:
        return spec.contains(Version(version), prereleases=True)
    except InvalidVersion:
        return False


def choose_python(spec: SpecifierSet) -> str | None:
    """The version for `app.python`: the one running conveyor when allowed, else the oldest."""
    running = f"{sys.version_info.major}.{sys.version_info.minor}"
    if minor_allowed(spec, running):
        return running
    return next((minor for minor in _MINORS if minor_allowed(spec, minor)), None)
