"""The template-shaped project deploys as it is: init, its values in `.env.development`, deploy.

Real parts: supervisord and Caddy installed into the local host by the deploy, the app's
requirements from PyPI, FastAPI under uvicorn. Nothing init wrote is edited but the web
service's ports (so that this test never meets another one's on a shared machine); the
health route init found behind two router prefixes is the one the deploy gates on.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import httpx
import pytest

from conveyor.demo.deploys import stop_supervisors
from tests.conftest import Project
from tests.e2e.ports import own_ports
from tests.e2e.public_project import FILES

GIT = ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com"]
VALUES = """\
PROJECT_NAME=template-under-test
ENVIRONMENT=local
POSTGRES_SERVER=127.0.0.1
POSTGRES_USER=app
POSTGRES_PASSWORD=Pw7xK2mQ9rT4vY8zB3nL6cF1hJ5sD0gA
"""


@pytest.fixture
def template(make_project: Callable[..., Project]) -> Iterator[Project]:
    project = make_project(FILES, mode=None)
    subprocess.run(["git", "init", "-q"], cwd=project.root, check=True)
    yield project
    stop_supervisors(project.root / ".conveyor" / "hosts")


def test_the_template_deploys_with_only_its_values_filled_in(template: Project) -> None:
    root = template.root
    found = template.run("init")
    assert found.code == 0, found.out + found.err
    toml = root / "conveyor.toml"
    assert 'health = "/api/v1/utils/health-check/"' in toml.read_text()
    listen = own_ports(toml)
    template.write({".env.development": VALUES}, mode=0o600)
    checked = template.run("config", "check", "development")
    assert checked.code == 0, checked.out + checked.err
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    subprocess.run([*GIT, "commit", "-qm", "the template"], cwd=root, check=True)

    deployed = template.run("deploy", "development", "--watch", "1")
    assert deployed.code == 0, deployed.out + deployed.err
    answer = httpx.get(f"http://127.0.0.1:{listen}/api/v1/utils/health-check/", timeout=5)
    assert (answer.status_code, answer.json()) == (200, True)
    docs = httpx.get(f"http://127.0.0.1:{listen}/api/v1/openapi.json", timeout=5)
    assert docs.json()["info"]["title"] == "template-under-test"  # its values reached it
