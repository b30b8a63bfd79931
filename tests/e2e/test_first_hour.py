"""A new user's first hour, through `main()`: a project written from scratch here (FastAPI app,
a worker, a pydantic-settings class, a hard-coded database URL, its own tests and dev
dependencies) goes through init, scan --fix, check, config check, a deploy to its local
development environment, stop, start, a second deploy, rollback and history; every gate stays
green after each step and no value is lost.

Real parts: the project's own venv (made by `conveyor check` from its requirements, from
PyPI), supervisord and Caddy (installed into the host by the deploy), the app under uvicorn.
The one edit to what init wrote gives the web service ports of its own, so that this test
never meets another one's on a shared machine. Each command's time is printed at the end
(`pytest -s`), for the record of how long a first hour takes.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from conveyor.demo.deploys import stop_supervisors
from conveyor.history.store import HistoryStore
from tests.conftest import Project, Result
from tests.e2e.ports import own_ports

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
URL = "postgresql://admin:admin123@localhost:5435/shop"
FILES = {
    "requirements.txt": "fastapi==0.165.0\nuvicorn==0.54.0\npydantic==2.14.3\n"
    "pydantic-settings==2.16.3\n",
    "requirements-dev.txt": "pytest\nhttpx\nruff\n",
    "pyproject.toml": """
        [project]
        name = "shop"
        version = "0.1.0"
        requires-python = ">=3.10"

        [tool.ruff.lint]
        select = ["E", "F", "I"]
    """,
    "shop/__init__.py": "",
    "shop/config.py": '''"""Settings."""

from pydantic_settings import BaseSettings


class Settings(BaseSettings):
    """From the environment."""

    GREETING: str = "hello"
    DB_PORT: int = 5432


settings = Settings()
''',
    "shop/main.py": '''"""The web app."""

import os

from fastapi import FastAPI

from shop.config import settings

app = FastAPI()


@app.get("/health")
def health() -> dict[str, str]:
    """Ready: what it serves, and which release."""
    version = os.environ.get("APP_VERSION", "dev")
    return {"greeting": settings.GREETING, "version": version}
''',
    "shop/worker.py": '''"""A worker: ticks until SIGTERM, then finishes its tick."""

import signal
import time

stopping = False


def stop(*_: object) -> None:
    """Finish the tick, then exit."""
    global stopping
    stopping = True


signal.signal(signal.SIGTERM, stop)
while not stopping:
    time.sleep(0.1)
''',
    "shop/prices.py": f'"""Prices."""\n\nURL = "{URL}"\n',
    "tests/test_main.py": """from fastapi.testclient import TestClient

from shop.main import app


def test_health() -> None:
    assert TestClient(app).get("/health").json()["greeting"] == "hello"
""",
}
TIMES: dict[str, float] = {}


@pytest.fixture
def shop(make_project: Callable[..., Project]) -> Iterator[Project]:
    project = make_project(FILES, mode=None)
    subprocess.run(["git", "init", "-q"], cwd=project.root, check=True)
    commit(project, "the shop")
    yield project
    stop_supervisors(project.root / ".conveyor" / "hosts")


def commit(project: Project, message: str) -> None:
    subprocess.run(["git", "add", "-A"], cwd=project.root, check=True)
    subprocess.run([*GIT, "commit", "-qm", message, "--allow-empty"], cwd=project.root, check=True)


def run(project: Project, *args: str) -> Result:
    """`conveyor ARGS`, which must pass; its time is kept (each command's first and second)."""
    began = time.monotonic()
    result = project.run(*args)
    key = " ".join(args)
    TIMES.setdefault(key if key not in TIMES else f"{key} (again)", time.monotonic() - began)
    assert result.code == 0, result.out + result.err
    return result


def gates_green(project: Project) -> str:
    """`conveyor check` and `conveyor config check development` pass; returns check's
    summary line."""
    run(project, "config", "check", "development")
    return run(project, "check").out.splitlines()[-1]


def test_a_new_project_from_init_to_rollback_with_every_gate_green(shop: Project) -> None:
    root = shop.root
    found = run(shop, "init")
    assert (
        "found: web app shop.main:app; worker shop.worker; settings class shop.config:Settings"
        in found.out
    )
    toml = root / "conveyor.toml"
    listen = own_ports(toml)
    assert 'use = ["ruff-format", "ruff", "pytest"]' in toml.read_text()

    run(shop, "scan", "--fix")
    assert (root / "shop/prices.py").read_text().endswith("URL = settings.DATABASE_URL\n")
    env = root / ".env.development"
    assert f"DATABASE_URL={URL}\n" in env.read_text()  # the value moved, not lost
    assert env.stat().st_mode & 0o777 == 0o600
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env.development"], cwd=root)
    assert ignored.returncode == 0  # out of git

    # Cold: the project's own venv is made from its requirements; warm: it is reused (the
    # venv step checks it is complete) and every gate is cached.
    assert gates_green(shop).startswith("ok: 4 passed, 0 cached, 0 failed in ")
    warm = "ok: 1 passed, 3 cached, 0 failed in "
    assert gates_green(shop).startswith(warm)
    commit(shop, "conveyor init and scan --fix")

    first = deploy_and_get(shop, listen)
    assert first["greeting"] == "hello"
    host_env = (root / ".conveyor/hosts/development/shared/.env").read_text()
    assert f"DATABASE_URL={URL}\n" in host_env  # the moved value reached the host
    status = run(shop, "status", "development", "--check")
    assert "worker" in status.out  # init's worker runs beside the web app
    assert gates_green(shop).startswith(warm)  # a deploy changes no gate

    run(shop, "stop", "development")
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{listen}/health", timeout=5)
    assert gates_green(shop).startswith(warm)
    run(shop, "start", "development")
    assert get(listen)["version"] == first["version"]
    assert gates_green(shop).startswith(warm)

    commit(shop, "a second release")
    second = deploy_and_get(shop, listen)
    assert second["version"] != first["version"]
    assert gates_green(shop).startswith(warm)
    run(shop, "rollback", "development")
    assert get(listen)["version"] == first["version"]
    assert gates_green(shop).startswith(warm)
    shown = run(shop, "history", "development")
    for kind in ("rollback", "deploy", "start", "stop"):
        assert kind in shown.out
    with HistoryStore.for_project(root) as store:
        kinds = [(r.kind, r.status) for r in store.deploys("development")]
    assert kinds == [
        ("rollback", "succeeded"),
        ("deploy", "succeeded"),
        ("start", "succeeded"),
        ("stop", "succeeded"),
        ("deploy", "succeeded"),
    ]
    assert f"DATABASE_URL={URL}\n" in env.read_text()
    print("\n".join(f"{seconds:6.1f} s  conveyor {command}" for command, seconds in TIMES.items()))


def get(listen: int) -> dict[str, str]:
    """What Caddy serves now."""
    response = httpx.get(f"http://127.0.0.1:{listen}/health", timeout=5)
    assert response.status_code == 200, response.text
    served: dict[str, str] = response.json()
    return served


def deploy_and_get(project: Project, listen: int) -> dict[str, str]:
    """`conveyor deploy development` (a 1 s watch), then what Caddy serves."""
    run(project, "deploy", "development", "--watch", "1")
    return get(listen)
