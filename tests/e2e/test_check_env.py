"""`[checks] env = "test"`: the steps get an environment's values, so settings can be built."""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from conveyor.cli import main
from tests.conftest import Project
from tests.e2e.public_project import FILES

TOML = """\
[app]
name = "app"

[settings]
class = "app.core.config:Settings"

[checks]
use = []
env = "test"

[checks.steps.settings]
run = ["{python}", "-c", "from app.core.config import settings; print(settings.PROJECT_NAME, settings.POSTGRES_PASSWORD.get_secret_value())"]
"""
VALUES = """\
PROJECT_NAME=app-under-test
POSTGRES_SERVER=127.0.0.1
POSTGRES_USER=postgres
POSTGRES_PASSWORD=Tst-8fj2K1pq88LwQz
"""


@pytest.fixture(scope="session")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `.conveyor/venvs/` for this module's projects, in every xdist worker: the
    environment `check` makes from the project's requirements (FastAPI and friends: a minute
    and more) is made once, under a lock, and found complete by every project after."""
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if "PYTEST_XDIST_WORKER" in os.environ else base) / "check-env-venvs"
    shared.mkdir(exist_ok=True)
    with open(shared.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        first = tmp_path_factory.mktemp("first")
        _write(first, {**FILES, "conveyor.toml": TOML, ".env.test": VALUES}, shared)
        assert main(["-C", str(first), "check", "--no-cache"]) == 0
    return shared


def _write(root: Path, files: Mapping[str, str], venvs: Path) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        path.chmod(0o600)
    (root / ".conveyor").mkdir(exist_ok=True)
    if not (root / ".conveyor" / "venvs").exists():
        (root / ".conveyor" / "venvs").symlink_to(venvs)


@pytest.fixture
def project_with(
    make_project: Callable[..., Project], venvs: Path
) -> Iterator[Callable[[Mapping[str, str]], Project]]:
    def make(files: Mapping[str, str]) -> Project:
        project = make_project()
        _write(project.root, files, venvs)
        return project

    yield make


def test_steps_get_the_values_of_checks_env(
    project_with: Callable[[Mapping[str, str]], Project],
) -> None:
    project = project_with({**FILES, "conveyor.toml": TOML, ".env.test": VALUES})
    result = project.run("check", "--no-cache")
    assert result.code == 0, result.out + result.err
    assert "settings: passed in" in result.out
    assert "Tst-8fj2K1pq88LwQz" not in result.out + result.err


def test_a_missing_env_file_fails_check_and_its_dry_run(
    make_project: Callable[..., Project],
) -> None:
    project = make_project({**FILES, "conveyor.toml": TOML})
    expected = (
        'error: conveyor.toml: checks.env = "test": .env.test does not exist, so the checks '
        "have no values to run with\n"
        "create it with the values the tests need (cp .env.example .env.test, then fill it in; "
        "chmod 600 .env.test), or remove checks.env\n"
    )
    for argv in (("check",), ("check", "--dry-run")):
        result = project.run(*argv)
        assert (result.code, result.out, result.err) == (1, "", expected)


def test_other_values_run_the_steps_again(
    project_with: Callable[[Mapping[str, str]], Project],
) -> None:
    """A pass with one .env.test is no pass with another: the file's digest is in the key."""
    project = project_with({**FILES, "conveyor.toml": TOML, ".env.test": VALUES})
    assert "settings: passed in" in project.run("check").out
    assert "settings: cached" in project.run("check").out
    project.write({".env.test": VALUES.replace("POSTGRES_USER=postgres\n", "")})
    again = project.run("check")
    assert again.code == 1
    assert "--- settings failed (exit 1): " in again.out
    assert "Tst-8fj2K1pq88LwQz" not in again.out + again.err


SERVICES_TOML = """\
[app]
name = "app"

[checks]
use = []
env = "test"

[checks.steps.db]
run = ["{python}", "-c", "import socket, os; print('talked to the database')"]
services = ["DATABASE_URL"]

[checks.steps.lint]
run = ["{python}", "-c", "print('needs nothing')"]
"""


def test_a_step_runs_once_the_services_it_needs_answer(
    project_with: Callable[[Mapping[str, str]], Project],
) -> None:
    """Real PostgreSQL on 127.0.0.1:5432 answers; a closed port names the key, never the
    password, and fails only the step that needs it."""
    good = "DATABASE_URL=postgresql+psycopg://app:Db-8fj2K1pq88LwQz@127.0.0.1/app\n"
    project = project_with({**FILES, "conveyor.toml": SERVICES_TOML, ".env.test": good})
    result = project.run("check", "--no-cache")
    assert result.code == 0, result.out + result.err
    assert "db: passed in" in result.out

    with socket.socket() as closed:  # a port that nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    project.write({".env.test": good.replace("127.0.0.1/", f"127.0.0.1:{port}/")})
    down = project.run("check", "--no-cache")
    assert down.code == 1
    assert (
        f"db needs DATABASE_URL (127.0.0.1:{port}), which does not accept a connection "
        "(Connection refused): start that service, or fix the value"
    ) in down.out
    assert "lint: passed in" in down.out
    assert "Db-8fj2K1pq88LwQz" not in down.out + down.err
