"""A deployable project (the tiny app) in a git repo, with hosts, load and clean-up for tests."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import httpx
import pytest

from conveyor.cli import main
from conveyor.demo.deploys import stop_supervisors
from conveyor.demo.ports import free_pair
from conveyor.runtime.tools import install_tools_argv
from tests.conftest import Result

TINY = Path(__file__).parents[1] / "fixtures" / "tinyapp"
GUNICORN_APP = Path(__file__).parents[1] / "fixtures" / "gunicornapp"
GUNICORN_WEB = "gunicorn gapp.main:app -k uvicorn_worker.UvicornWorker -w 2 -b 127.0.0.1:$PORT"
GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]


def write_tiny_project(
    root: Path,
    *,
    hosts: list[str],
    port: int,
    listen: str,
    app_dir: str,
    strategy: str,
    app: Path = TINY,
    web: str = "python -m tiny.web $PORT",
    worker: bool = True,
) -> None:
    """The tiny app (or `app` with its `web` command, no worker) as a git project with a
    staging environment (tests and bench/deploy.py)."""
    shutil.copytree(app, root)
    quoted = ", ".join(f'"{h}"' for h in hosts)
    workers = (
        '[services.worker]\ncommand = "python -m tiny.worker"\nroles = ["web"]\ndrain = "2s"\n'
    )
    (root / "conveyor.toml").write_text(
        f"""\
[app]
name = "tiny"

[services.web]
command = "{web}"
health = "/health"
roles = ["web"]
port = {port}
listen = "{listen}"
drain = "2s"

{workers if worker else ""}
[environments.staging]
app_dir = "{app_dir}"
hosts = {{ web = [{quoted}] }}
strategy = {{ {strategy} }}
"""
    )
    env = root / ".env.staging"
    env.write_text("GREETING=hello staging\nAPI_TOKEN=Zx8kq2LmP0vR7tY3wQ9nB4cH6jF1sD5g\n")
    env.chmod(0o600)
    (root / ".gitignore").write_text(".env.*\n!.env.example\n.conveyor/\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    commit_mode(root, "ok")


def write_gunicorn_project(
    root: Path, *, hosts: list[str], port: int, listen: str, app_dir: str, strategy: str
) -> None:
    """The FastAPI app under gunicorn (2 uvicorn workers) as a git project with staging."""
    write_tiny_project(
        root,
        hosts=hosts,
        port=port,
        listen=listen,
        app_dir=app_dir,
        strategy=strategy,
        app=GUNICORN_APP,
        web=GUNICORN_WEB,
        worker=False,
    )


def commit_mode(root: Path, mode: str) -> None:
    """Commit the app with MODE set to ok, 500, breakable or crash."""
    (root / "MODE").write_text(mode + "\n")
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run(
        [*GIT, "commit", "-q", "--allow-empty", "-m", f"mode {mode}"], cwd=root, check=True
    )


def shared_tools(directory: Path) -> Path:
    """supervisor + caddy in a tools venv, installed once and linked into each app_dir."""
    tools = directory / "tools"
    if not (tools / ".conveyor-tools").exists():
        subprocess.run(install_tools_argv(str(directory), "python3"), check=True, timeout=600)
    return tools


class DeployProject:
    """The tiny app as a git project with one environment, driven through `main()`."""

    def __init__(
        self,
        root: Path,
        capsys: pytest.CaptureFixture[str],
        *,
        hosts: list[str],
        tools: Path,
        ssh_args: tuple[str, ...] = (),
        keep_warm: str = "15m",
        gunicorn: bool = False,
        health_timeout: str = "20s",
    ) -> None:
        self.root, self._capsys, self.hosts, self.tools = root, capsys, hosts, tools
        self.ssh_args = ssh_args
        self.listen = free_pair()
        self.port = free_pair()
        # Short: unix socket paths under it must stay within 107 bytes.
        self.hosts_dir = Path(tempfile.mkdtemp(prefix="cv-"))
        write = write_gunicorn_project if gunicorn else write_tiny_project
        write(
            root,
            hosts=hosts,
            port=self.port,
            listen=f"127.0.0.1:{self.listen}",
            app_dir=f"{self.hosts_dir}/{{host}}",
            strategy=f'healthy_threshold = 2, health_timeout = "{health_timeout}", watch = "1s", '
            f'keep_previous_warm = "{keep_warm}"',
        )

    def app_dir(self, host: str = "127.0.0.1") -> Path:
        """Where the app lives on a host (all hosts are this machine)."""
        path = self.hosts_dir / host
        if not (path / "tools").exists():
            path.mkdir(parents=True, exist_ok=True)
            (path / "tools").symlink_to(self.tools)
        return path

    def commit(self, mode: str) -> None:
        """Commit the app with MODE set to ok, 500, breakable or crash."""
        commit_mode(self.root, mode)

    def run(self, *argv: str) -> Result:
        """`conveyor -C root ARGV...` in-process."""
        self._capsys.readouterr()
        code = main(["-C", str(self.root), *argv])
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def deploy(self, *extra: str) -> Result:
        """`conveyor deploy staging` with the SSH options."""
        return self.run("deploy", "staging", *self.ssh_args, *extra)

    @property
    def url(self) -> str:
        """Caddy's address for /health."""
        return f"http://127.0.0.1:{self.listen}/health"

    def get(self) -> dict[str, str]:
        """What Caddy serves now."""
        response = httpx.get(self.url, timeout=5)
        assert response.status_code == 200, response.text
        data: dict[str, str] = response.json()
        return data

    def shutdown(self) -> None:
        """Stop every supervisord this project started (its programs and Caddy with it)."""
        stop_supervisors(self.hosts_dir)
        shutil.rmtree(self.hosts_dir, ignore_errors=True)
