"""The import --fix adds, placed where the project's own isort or ruff settings want it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from collections.abc import Collection
from pathlib import Path


def sorter(root: Path, path: Path, *, use: Collection[str]) -> list[str] | None:
    """The argv that sorts one file's imports from stdin with the project's settings, or None."""
    if "isort" in use and importlib.util.find_spec("isort"):
        return [sys.executable, "-m", "isort", "-q", "--settings-path", str(root)]
    if {"ruff", "ruff-format"} & set(use) and importlib.util.find_spec("ruff"):
        # Only the import rules, so nothing else in the file changes; the project's own
        # configuration says which packages are first-party.
        fix = ["--select", "I", "--fix", "--exit-zero", "--quiet"]
        return [sys.executable, "-m", "ruff", "check", *fix, "--stdin-filename", str(path)]
    return None


def sort_imports(root: Path, path: Path, source: str, *, use: Collection[str]) -> str:
    """`source` with its imports sorted the project's way; unchanged when no sorter is usable."""
    argv = sorter(root, path, use=use)
    if argv is None:
        return source
    stdin = ["--filename", str(path), "-"] if "isort" in argv else ["-"]
    try:
        done = subprocess.run(
            [*argv, *stdin], cwd=root, input=source, capture_output=True, text=True, check=False
        )
    except OSError:
        return source
    return done.stdout if done.returncode == 0 and done.stdout.strip() else source
