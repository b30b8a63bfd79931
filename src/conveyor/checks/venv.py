"""The project's own environment for the gates that import its code (mypy, pytest).

Found in this order: the project's `.venv/` or `venv/`, the active `VIRTUAL_ENV` (when it is not
conveyor's own), else one conveyor makes from the project's requirements under
`.conveyor/venvs/<hash>/`, named by the hash of everything installed into it (the way
pre-commit isolates hooks), so a change to the requirements makes a new one and nothing is
installed twice. A project that declares no requirements runs in conveyor's interpreter.
Run as `python -m conveyor.checks.venv DIR -- PIP-ARGS...` it makes the environment.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

VENVS = ".conveyor/venvs"
COMPLETE = ".conveyor-complete"
REQUIREMENTS = ("requirements.txt", "requirements-dev.txt", "dev-requirements.txt")
# Module each tool distribution runs as (`python -m <module>`), to see whether a venv has it.
MODULES = {
    "ruff": "ruff",
    "black": "black",
    "isort": "isort",
    "flake8": "flake8",
    "mypy": "mypy",
    "bandit": "bandit",
    "pip-audit": "pip_audit",
    "pytest": "pytest",
    "pytest-cov": "pytest_cov",
    "coverage": "coverage",
    "pytest-benchmark": "pytest_benchmark",
}
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


@dataclass(frozen=True)
class ProjectEnv:
    """Where the project's code is importable: its interpreter and how conveyor got it."""

    python: str
    origin: str
    # The argv that makes it (empty: it exists, or it is conveyor's own interpreter).
    make: tuple[str, ...] = ()
    # Tool distributions it lacks; those steps run in conveyor's interpreter instead.
    missing: frozenset[str] = frozenset()


def find_env(
    root: Path, tools: Sequence[str], *, environ: Mapping[str, str] | None = None
) -> ProjectEnv:
    """The project's environment for running `tools` (distribution names)."""
    environ = os.environ if environ is None else environ
    for name in (".venv", "venv"):
        python = root / name / "bin" / "python"
        if python.is_file():
            return _existing(str(python), f"{name}/", tools)
    active = environ.get("VIRTUAL_ENV", "")
    if active and Path(active).resolve() != Path(sys.prefix).resolve():
        python = Path(active) / "bin" / "python"
        if python.is_file():
            return _existing(str(python), f"$VIRTUAL_ENV ({active})", tools)
    sources, requirements = declared(root)
    if not sources:
        return ProjectEnv(sys.executable, "conveyor's own interpreter (no requirements found)")
    named = {_normal(r) for r in requirements}
    extra = sorted(_pinned(t) for t in tools if _normal(t) not in named and t != "conveyor")
    pip = [*requirements, *extra]
    # The files' contents, not their paths: an edited requirements.txt makes a new venv.
    texts = [_text_of(root / name) for name in sources if name != "pyproject.toml"]
    digest = hashlib.sha256(json.dumps([sys.version, pip, texts]).encode()).hexdigest()[:12]
    folder = root / VENVS / digest
    python = folder / "bin" / "python"
    origin = f"{VENVS}/{digest} (from {', '.join(sources)})"
    make = (sys.executable, "-m", "conveyor.checks.venv", str(folder), "--", *pip)
    return ProjectEnv(str(python), origin, make)


def declared(root: Path) -> tuple[list[str], list[str]]:
    """The files that declare requirements, and pip arguments that install them."""
    sources: list[str] = []
    args: list[str] = []
    for name in REQUIREMENTS:
        if (root / name).is_file():
            sources.append(name)
            args += ["-r", str(root / name)]
    pyproject = root / "pyproject.toml"
    if pyproject.is_file():
        try:
            data = tomllib.loads(pyproject.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            data = {}
        project = data.get("project", {})
        found = [str(d) for d in project.get("dependencies", [])]
        extras = project.get("optional-dependencies", {})
        groups = data.get("dependency-groups", {})
        for group in ("dev", "test", "tests"):
            found += [str(d) for d in extras.get(group, [])]
            found += [d for d in groups.get(group, []) if isinstance(d, str)]
        if found:
            sources.append("pyproject.toml")
            args += found
    return sources, args


_INCLUDE = re.compile(r"^\s*(?:-r|-c|--requirement|--constraint)[\s=]+(\S+)", re.MULTILINE)


def _text_of(path: Path, seen: frozenset[Path] = frozenset()) -> str:
    """A requirements file's text followed by the files it includes (-r, -c), for a digest."""
    if path in seen:
        return ""
    try:
        text = path.read_text("utf-8", errors="replace")
    except OSError:
        return ""
    included = [path.parent / name for name in _INCLUDE.findall(text)]
    return text + "".join(_text_of(p, seen | {path}) for p in included)


def _normal(requirement: str) -> str:
    match = _NAME.match(requirement)
    return re.sub(r"[-_.]+", "-", match.group(1)).lower() if match else ""


def _pinned(dist: str) -> str:
    """A tool the project does not name, at the version conveyor itself runs."""
    try:
        return f"{dist}=={importlib.metadata.version(dist)}"
    except importlib.metadata.PackageNotFoundError:
        return dist


def _existing(python: str, origin: str, tools: Sequence[str]) -> ProjectEnv:
    modules = [MODULES[t] for t in tools if t in MODULES]
    script = (
        "import importlib.util as u, sys\n"
        "print(' '.join(m for m in sys.argv[1:] if u.find_spec(m)))"
    )
    try:
        done = subprocess.run(
            [python, "-c", script, *modules], capture_output=True, text=True, check=False
        )
    except OSError:
        return ProjectEnv(python, origin)
    if done.returncode != 0:
        # An interpreter that cannot answer: its own steps will say why.
        return ProjectEnv(python, origin)
    present = set(done.stdout.split())
    missing = frozenset(t for t in tools if t in MODULES and MODULES[t] not in present)
    return ProjectEnv(python, origin, missing=missing)


def make(folder: Path, pip: Sequence[str]) -> int:
    """Create the venv in `folder` and install `pip` into it; reuse a complete one."""
    if (folder / COMPLETE).is_file():
        print(f"reusing {folder}")
        return 0
    # Built in place (scripts in a venv hold its absolute path); the marker is written last, so
    # an interrupted build is never taken as complete and is made again from scratch.
    shutil.rmtree(folder, ignore_errors=True)
    steps = [
        [sys.executable, "-m", "venv", str(folder)],
        [str(folder / "bin" / "python"), "-m", "pip", "install", "-q", *pip],
    ]
    for argv in steps:
        print("+", " ".join(argv), flush=True)
        if subprocess.run(argv, check=False).returncode != 0:
            return 1
    (folder / COMPLETE).write_text("\n".join(pip) + "\n", "utf-8")
    print(f"made {folder}")
    return 0


if __name__ == "__main__":
    arguments = sys.argv[1:]
    split = arguments.index("--") if "--" in arguments else len(arguments)
    sys.exit(make(Path(arguments[0]), arguments[split + 1 :]))
