"""Which quality tools a project already uses, for the `[checks]` section init writes.

A tool counts when the project configures it or names it in its dev requirements: init then
writes only gates the project is already held to, so `conveyor check` passes on it as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from conveyor.checks.venv import declared

# preset -> (configuration markers: file name, or "file:[section]"; distribution names)
_TOOLS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("black", ("pyproject.toml:[tool.black]",), ("black",)),
    ("ruff-format", ("pyproject.toml:[tool.ruff", "ruff.toml", ".ruff.toml"), ("ruff",)),
    ("ruff", ("pyproject.toml:[tool.ruff", "ruff.toml", ".ruff.toml"), ("ruff",)),
    ("isort", ("pyproject.toml:[tool.isort]", ".isort.cfg", "setup.cfg:[isort]"), ("isort",)),
    ("flake8", (".flake8", "setup.cfg:[flake8]", "tox.ini:[flake8]"), ("flake8",)),
    ("mypy", ("pyproject.toml:[tool.mypy]", "mypy.ini", ".mypy.ini"), ("mypy",)),
    ("pytest", ("pyproject.toml:[tool.pytest", "pytest.ini"), ("pytest",)),
)
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class DetectedChecks:
    """The presets to write, and whether the project has any tests yet."""

    use: tuple[str, ...]
    has_tests: bool


def detect_checks(root: Path) -> DetectedChecks:
    """The presets a project already uses; "ruff-format" gives way to black when both appear."""
    names = _requirement_names(root)
    use = [
        preset
        for preset, markers, dists in _TOOLS
        if any(_configured(root, m) for m in markers) or any(d in names for d in dists)
    ]
    if "black" in use and "ruff-format" in use:
        use.remove("ruff-format")
    has_tests = _has_tests(root)
    if has_tests and "pytest" not in use:
        use.append("pytest")
    return DetectedChecks(tuple(use), has_tests)


def _configured(root: Path, marker: str) -> bool:
    name, _, section = marker.partition(":")
    path = root / name
    if not path.is_file():
        return False
    return not section or section in path.read_text("utf-8", "replace")


def _requirement_names(root: Path) -> set[str]:
    _, args = declared(root)
    names = set()
    for arg in args:
        if arg == "-r":
            continue
        if Path(arg).is_file():
            lines = Path(arg).read_text("utf-8", "replace").splitlines()
        else:
            lines = [arg]
        for line in lines:
            match = _NAME.match(line)
            if match and not line.lstrip().startswith("-"):
                names.add(re.sub(r"[-_.]+", "-", match.group(1)).lower())
    return names


def _has_tests(root: Path) -> bool:
    skip = {".venv", "venv", ".conveyor", ".git", "node_modules"}
    for path in root.rglob("*.py"):
        name = path.name
        if (name.startswith("test_") or name.endswith("_test.py")) and not skip & set(
            path.relative_to(root).parts
        ):
            return True
    return False
