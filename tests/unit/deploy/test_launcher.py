"""The launcher, run for real: a service sees the environment file's values and a small base
of the host's own, never what was exported where supervisord (or conveyor) was started."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conveyor.deploy.launcher import SCRIPT

PRINT_ENV = "import json, os; print(json.dumps(dict(os.environ)))"


@pytest.fixture(scope="module")
def env_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("venv") / "v"
    venv.create(path, with_pip=False)
    return path


def launch(tmp_path: Path, env_venv: Path, environ: dict[str, str]) -> dict[str, str]:
    launcher = tmp_path / "launch.py"
    launcher.write_text(SCRIPT)
    env_file = tmp_path / ".env"
    env_file.write_text('GREETING="hello staging"\nDB_PASSWORD=from-the-file\n')
    argv = [sys.executable, str(launcher), str(env_file), str(env_venv), "--", "python", "-c"]
    done = subprocess.run(
        [*argv, PRINT_ENV], env=environ, capture_output=True, text=True, check=True
    )
    seen: dict[str, str] = json.loads(done.stdout)
    return seen


def test_a_service_never_sees_what_the_shell_exported(tmp_path: Path, env_venv: Path) -> None:
    shell = {
        "PATH": os.environ["PATH"],
        "HOME": "/home/deploy",
        "LC_ALL": "C.UTF-8",
        "ENVIRONMENT": "development",  # exported as the seeds' guide tells users to
        "DB_PASSWORD": "from-the-shell",
        "CONVEYOR_HISTORY_URL": "postgresql://u:p@db/history",
        "PORT": "8101",
        "CONVEYOR_COLOR": "green",
        "SUPERVISOR_PROCESS_NAME": "web-green",
    }
    seen = launch(tmp_path, env_venv, shell)
    assert "ENVIRONMENT" not in seen and "CONVEYOR_HISTORY_URL" not in seen
    assert seen["DB_PASSWORD"] == "from-the-file"  # the file wins, and only the file
    assert seen["GREETING"] == "hello staging"
    assert (seen["PORT"], seen["CONVEYOR_COLOR"]) == ("8101", "green")
    assert seen["SUPERVISOR_PROCESS_NAME"] == "web-green"
    assert (seen["HOME"], seen["LC_ALL"]) == ("/home/deploy", "C.UTF-8")
    assert seen["VIRTUAL_ENV"] == str(env_venv)
    assert seen["PATH"].startswith(f"{env_venv}/bin{os.pathsep}")


def test_a_command_the_release_does_not_install_is_named(tmp_path: Path, env_venv: Path) -> None:
    """`uvicorn` when the project depends on plain `fastapi`: one line that says what to do,
    in the program's log (the deploy shows its tail), not a traceback."""
    launcher = tmp_path / "launch.py"
    launcher.write_text(SCRIPT)
    (tmp_path / ".env").write_text("")
    argv = [sys.executable, str(launcher), str(tmp_path / ".env"), str(env_venv), "--"]
    done = subprocess.run(
        [*argv, "no-such-server-x", "app:app"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr == (
        f"conveyor: cannot run no-such-server-x: it is neither in the release's venv "
        f"({env_venv}/bin) nor on the host's PATH; add the package that provides it to the "
        "project's dependencies (or install it on the host)\n"
    )
