"""What importing the SSH connector prints: nothing (a real interpreter, no fake)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_ssh_connector_prints_no_warning() -> None:
    done = subprocess.run(
        [sys.executable, "-W", "default", "-c", "import conveyor.hosts.ssh"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
