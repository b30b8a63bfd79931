"""The bundled example app's own test suite passes (SQLite and the real PostgreSQL)."""

from __future__ import annotations

import subprocess
import sys

from conveyor.demo import APP_DIR


def test_example_app_suite_passes() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"],
        cwd=APP_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert " passed" in done.stdout
    assert "skipped" not in done.stdout  # the PostgreSQL test must really run
