"""`--role` / `--host`: which hosts a limited deploy reaches, and clear errors for typos."""

from __future__ import annotations

from pathlib import Path

import pytest

from conveyor.deploy.preflight import Limit, select_hosts
from conveyor.errors import ConfigError
from conveyor.project.load import Project, load_project

TOML = """
[app]
name = "shop"
[services.web]
command = "uvicorn shop.main:app --port $PORT"
health = "/health"
roles = ["backend"]
[services.dags]
sync = { from = "dags", to = "/opt/airflow/dags" }
roles = ["scheduler"]
[environments.production]
hosts = { backend = ["deploy@app-1", "deploy@app-2:2222"], scheduler = ["deploy@sched-1"] }
"""


@pytest.fixture
def project(tmp_path: Path) -> Project:
    (tmp_path / "conveyor.toml").write_text(TOML)
    return load_project(tmp_path)


def test_without_a_limit_every_host_is_in(project: Project) -> None:
    hosts, left_out = select_hosts(project, "production", Limit())
    assert hosts == ["deploy@app-1", "deploy@app-2:2222", "deploy@sched-1"]
    assert left_out == []


def test_a_role_or_a_host_name_limits_the_deploy(project: Project) -> None:
    assert select_hosts(project, "production", Limit(roles=("scheduler",))) == (
        ["deploy@sched-1"],
        ["deploy@app-1", "deploy@app-2:2222"],
    )
    # A host by its name alone, without user or port; limits add up.
    hosts, left_out = select_hosts(
        project, "production", Limit(roles=("scheduler",), hosts=("app-2",))
    )
    assert hosts == ["deploy@app-2:2222", "deploy@sched-1"]
    assert left_out == ["deploy@app-1"]


def test_a_misspelt_role_or_host_names_what_exists(project: Project) -> None:
    with pytest.raises(ConfigError) as role:
        select_hosts(project, "production", Limit(roles=("backnd",)))
    assert role.value.message == (
        '--role backnd: production has no role "backnd" (did you mean "backend"?); '
        "its roles: backend, scheduler"
    )
    with pytest.raises(ConfigError) as host:
        select_hosts(project, "production", Limit(hosts=("app-3",)))
    assert host.value.message.startswith("--host app-3: production has no such host")
    assert "deploy@app-1, deploy@app-2:2222, deploy@sched-1" in host.value.message
