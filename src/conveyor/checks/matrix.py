"""Find a Python interpreter per version: uv-managed, pyenv, or on PATH."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

SOURCES = "uv, pyenv, PATH"


@dataclass(frozen=True)
class Found:
    """An interpreter for a version and where it was found."""

    version: str
    python: str
    source: str


def find_python(version: str, *, environ: Mapping[str, str] | None = None) -> Found | None:
    """The interpreter for `version` ("3.12"), or None when none of uv, pyenv, PATH has it."""
    env = os.environ if environ is None else environ
    path = env.get("PATH", "")
    for source, finder in (("uv", _uv), ("pyenv", _pyenv), ("PATH", _on_path)):
        python = finder(version, env, path)
        if python:
            return Found(version, python, source)
    return None


def _uv(version: str, env: Mapping[str, str], path: str) -> str | None:
    uv = shutil.which("uv", path=path)
    if uv is None:
        return None
    done = subprocess.run(
        [uv, "python", "find", "--no-project", version],
        capture_output=True,
        text=True,
        check=False,
        env={**env, "UV_PYTHON_DOWNLOADS": "never"},
    )
    found = done.stdout.strip()
    return found if done.returncode == 0 and found else None


def _pyenv(version: str, env: Mapping[str, str], path: str) -> str | None:
    root = env.get("PYENV_ROOT")
    if not root:
        pyenv = shutil.which("pyenv", path=path)
        if pyenv is None:
            return None
        root = str(Path(pyenv).resolve().parent.parent)
    candidates = []
    for folder in Path(root, "versions").glob(f"{version}.*"):
        match = re.fullmatch(re.escape(version) + r"\.(\d+)", folder.name)
        python = folder / "bin" / f"python{version}"
        if match and python.is_file():
            candidates.append((int(match.group(1)), str(python)))
    return max(candidates)[1] if candidates else None


def _on_path(version: str, env: Mapping[str, str], path: str) -> str | None:
    for folder in path.split(os.pathsep):
        # pyenv's shims answer for every version, installed or not; pyenv was asked above.
        if not folder or Path(folder).name == "shims":
            continue
        python = shutil.which(f"python{version}", path=folder)
        if python:
            return python
    return None


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    """True when CI=true (GitHub Actions, GitLab and most others set it)."""
    env = os.environ if environ is None else environ
    return env.get("CI", "").lower() in ("true", "1", "yes")


def missing_message(versions: Sequence[str], *, ci: bool) -> str:
    """The one rule, stated the same in CI and locally."""
    names = ", ".join(versions)
    where = "CI=true: an error" if ci else "not in CI: a warning, the tests skip them"
    install = " or ".join(
        (f"uv python install {' '.join(versions)}", f"pyenv install {' '.join(versions)}")
    )
    return (
        f"Python {names} not found (looked in {SOURCES}); "
        f"missing interpreters are an error in CI and a warning locally ({where}); "
        f"install with: {install}"
    )
