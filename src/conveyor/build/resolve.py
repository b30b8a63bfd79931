"""pyproject.toml dependencies resolved once into pins, with pip's `install --dry-run --report`.

pip is what every Python has, so no new tool is needed; the resolution runs on the
app's interpreter (`pythonX.Y` for `app.python`) so markers and wheels fit the app.
The result is cached by the dependency list and the Python version under
`.conveyor/locks/`, so later builds of the same dependencies get the same pins.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from conveyor.build.requirements import Pin, canonical_name
from conveyor.errors import BuildError

PYPROJECT = "pyproject.toml"
_TIMEOUT = 300


def project_dependencies(data: dict[str, Any]) -> tuple[str, ...] | None:
    """`[project].dependencies` of a parsed pyproject.toml, or None when it has no such table."""
    project = data.get("project")
    if not isinstance(project, dict):
        return None
    if "dependencies" in project.get("dynamic", []):
        raise BuildError(
            f"{PYPROJECT}: dependencies are dynamic, so conveyor cannot read them",
            hint="pin them in requirements.txt or commit a uv.lock",
        )
    return tuple(str(d) for d in project.get("dependencies", []))


def resolve_dependencies(
    dependencies: tuple[str, ...], *, python: str, cache: Path
) -> tuple[Pin, ...]:
    """Pins for `dependencies` on Python `python` ("3.11"), from the cache or from pip."""
    key = hashlib.sha256(json.dumps([python, sorted(dependencies)]).encode()).hexdigest()[:16]
    cached = cache / f"{key}.json"
    if cached.is_file():
        entries = json.loads(cached.read_text())
        return tuple(Pin(e["name"], e["spec"], where=PYPROJECT) for e in entries)
    pins = pins_from_report(_pip_report(dependencies, python))
    cache.mkdir(parents=True, exist_ok=True)
    body = json.dumps([{"name": p.name, "spec": p.spec} for p in pins])
    temporary = cached.with_suffix(".tmp")
    temporary.write_text(body)
    temporary.replace(cached)
    return pins


def pins_from_report(report: dict[str, Any]) -> tuple[Pin, ...]:
    """`name==version` (`name @ url` for direct references) for each package pip would install."""
    pins = []
    for item in report.get("install", []):
        metadata = item["metadata"]
        name = canonical_name(metadata["name"])
        if item.get("is_direct"):
            pins.append(Pin(name, f"@ {item['download_info']['url']}", where=PYPROJECT))
        else:
            pins.append(Pin(name, f"=={metadata['version']}", where=PYPROJECT))
    return tuple(pins)


def _pip_report(dependencies: tuple[str, ...], python: str) -> dict[str, Any]:
    """Run pip's resolver (nothing is installed) and return its JSON report."""
    if not dependencies:
        return {"install": []}
    interpreter = _interpreter(python)
    with tempfile.TemporaryDirectory(prefix="conveyor-resolve-") as scratch:
        requirements = Path(scratch, "requirements.in")
        requirements.write_text("\n".join(dependencies) + "\n")
        report = Path(scratch, "report.json")
        argv = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        if interpreter != sys.executable:
            argv += ["--python", interpreter]
        argv += ["install", "--dry-run", "--ignore-installed", "--quiet"]
        argv += ["--report", str(report), "-r", str(requirements)]
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            raise BuildError(
                f"{PYPROJECT}: resolving the dependencies took over {_TIMEOUT} s"
            ) from None
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            raise BuildError(
                f"{PYPROJECT}: pip could not resolve the dependencies:\n{tail}",
                hint="fix the dependencies, or pin them in requirements.txt or a uv.lock",
            )
        loaded: dict[str, Any] = json.loads(report.read_text())
        return loaded


def _interpreter(python: str) -> str:
    """The interpreter for Python `python`: conveyor's own when it matches, else pythonX.Y."""
    if python == f"{sys.version_info.major}.{sys.version_info.minor}":
        return sys.executable
    found = shutil.which(f"python{python}")
    if found is None:
        raise BuildError(
            f"{PYPROJECT}: the dependencies are resolved for Python {python} (app.python), "
            f"but python{python} is not on PATH",
            hint="install that Python, or pin the dependencies in requirements.txt or a uv.lock",
        )
    return found
