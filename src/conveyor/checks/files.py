"""The project's files, glob patterns over them, and their content hashes."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

# Never inputs: tool caches, virtualenvs and conveyor's own state change on every run.
PRUNED = frozenset(
    {
        ".git",
        ".conveyor",
        ".venv",
        "venv",
        ".tox",
        ".nox",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        ".benchmarks",
        ".make",
        "build",
        "dist",
        "htmlcov",
    }
)
_PRUNED_FILES = re.compile(r"(^|/)(\.coverage(\..*)?|coverage\.xml|[^/]*\.py[co])$")


def project_files(root: Path) -> tuple[str, ...]:
    """Every file of the project, relative and sorted; git's view (.gitignore) when it has one."""
    listed = _git_files(root)
    if listed is None:
        listed = list(_walk(root))
    kept = (p for p in listed if not _PRUNED_FILES.search(p) and not _in_pruned(p))
    return tuple(sorted(p for p in kept if (root / p).is_file()))


def _git_files(root: Path) -> list[str] | None:
    try:
        done = subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "ls-files",
                "-z",
                "--cached",
                "--others",
                "--exclude-standard",
            ],
            capture_output=True,
            check=False,
        )
    except OSError:
        return None
    if done.returncode != 0:
        return None
    return [p for p in done.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def _walk(root: Path) -> Iterable[str]:
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d not in PRUNED and not d.endswith(".egg-info")]
        relative = Path(directory).relative_to(root)
        for name in names:
            yield (relative / name).as_posix()


def _in_pruned(path: str) -> bool:
    parts = path.split("/")[:-1]
    return any(p in PRUNED or p.endswith(".egg-info") for p in parts)


@lru_cache(maxsize=256)
def glob_regex(pattern: str) -> re.Pattern[str]:
    """`src/**/*.py` as a regex over relative posix paths; a bare name matches at any depth."""
    if "/" not in pattern:
        pattern = f"**/{pattern}"
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(out + r"\Z")


def select(files: Sequence[str], patterns: Sequence[str]) -> tuple[str, ...]:
    """The files matching any pattern; no patterns means every file."""
    if not patterns:
        return tuple(files)
    regexes = [glob_regex(p) for p in patterns]
    return tuple(f for f in files if any(r.match(f) for r in regexes))


def hash_files(root: Path, files: Sequence[str]) -> dict[str, str]:
    """Each file's sha256 (first 16 hex digits are plenty to tell versions apart)."""
    hashes: dict[str, str] = {}
    for name in files:
        try:
            data = (root / name).read_bytes()
        except OSError:
            continue
        hashes[name] = hashlib.sha256(data).hexdigest()[:16]
    return hashes
