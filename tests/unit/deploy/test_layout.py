"""Where the app lives on a host ("~" expanded with the host's own home, per-host listen and
app_dir), which ports each colour gets, and which services and work each host has."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from conveyor.deploy.layout import (
    HostPaths,
    app_dir_for,
    expand_home,
    has_work,
    idle_reason,
    listen_address,
    loopback_port,
    ports,
    services_by_kind,
    services_on,
    syncs_on,
)
from conveyor.deploy.plan import HostView, views
from conveyor.deploy.planner import build_plan
from conveyor.deploy.state import HostState
from conveyor.project.model import ConveyorConfig
from tests.unit.deploy.test_plan import config
from tests.unit.deploy.test_plan_cases import project_of


@dataclass
class Home:
    """Stands in for a connector's `home` (pure logic: which home a path is under)."""

    home: str | None = None


def test_expand_home_uses_the_hosts_home_and_leaves_other_paths() -> None:
    assert expand_home("~/shop", "/home/deploy") == "/home/deploy/shop"
    assert expand_home("~", "/home/deploy") == "/home/deploy"
    assert expand_home("/srv/shop", None) == "/srv/shop"
    assert expand_home("/srv/~x", None) == "/srv/~x"


def test_paths_under_home_are_known_once_the_host_said_where_home_is() -> None:
    home = Home()
    paths = HostPaths("~/shop", home)
    with pytest.raises(RuntimeError, match="the host's home is not known before connecting"):
        _ = paths.app_dir
    home.home = "/home/deploy"
    assert paths.app_dir == "/home/deploy/shop"
    assert paths.state == "/home/deploy/shop/state.json"
    assert HostPaths("/srv/shop").current == "/srv/shop/current"


def test_a_hosts_own_listen_replaces_the_services() -> None:
    web = config().services["web"]
    assert listen_address(web) == ":80"
    assert listen_address(web, "10.0.0.5:80") == "10.0.0.5:80"
    [one, two] = views(
        [("deploy@app-1", HostPaths("/srv/a")), ("deploy@app-2", HostPaths("/srv/b"))],
        {"deploy@app-1": ["backend"], "deploy@app-2": ["backend"]},
        {"deploy@app-1": HostState(), "deploy@app-2": HostState()},
        listens={"deploy@app-1": {"web": "10.0.0.5:80"}},
    )
    assert isinstance(one, HostView) and one.listen == {"web": "10.0.0.5:80"}
    steps = build_plan(
        config(), "production", release="1.2.0", hosts=[one, two], env_keys=1, watch=1
    ).steps
    switches = [(s.host, s.description) for s in steps if s.action == "switch"]
    assert switches == [
        ("deploy@app-1", "Caddy on 10.0.0.5:80 -> port 9000 (blue)"),
        ("deploy@app-2", "Caddy on :80 -> port 9000 (blue)"),
    ]


SHOP = """
[app]
name = "shop"
[services.web]
command = "uvicorn shop.main:app --port $PORT"
health = "/health"
roles = ["backend"]
[services.admin]
command = "uvicorn shop.admin:app --port $PORT"
health = "/health"
roles = ["backend"]
port = 9100
[services.beat]
command = "celery -A shop beat"
kind = "singleton"
roles = ["jobs"]
[services.worker]
command = "celery -A shop worker"
roles = ["jobs"]
[services.dags]
sync = { from = "dags", to = "/opt/airflow/dags" }
roles = ["scheduler"]
[migrations]
run_on = "migrate"
[environments.production]
hosts = { backend = [{ host = "deploy@app-1", app_dir = "/opt/{host}/shop" }, "deploy@app-2"], jobs = ["deploy@app-2", "deploy@app-3"], scheduler = ["deploy@sched-1"], migrate = ["deploy@db-1"], db = ["deploy@db-2"] }
[environments.staging]
app_dir = "~/shop-staging"
hosts = { backend = ["deploy@stage-1"] }
[environments.review]
app_dir = ".conveyor/review/{host}"
hosts = { backend = ["local"] }
[environments.development]
hosts = { backend = ["local"] }
"""
ROLES = {
    "deploy@app-1": ["backend"],
    "deploy@app-2": ["backend", "jobs"],
    "deploy@app-3": ["jobs"],
    "deploy@sched-1": ["scheduler"],
    "deploy@db-1": ["migrate"],
    "deploy@db-2": ["db"],
}


def shop() -> ConveyorConfig:
    return project_of(SHOP).config


@pytest.mark.parametrize(
    ("environment", "host", "expected"),
    [
        ("production", "deploy@app-1", "/opt/app-1/shop"),  # the host's own, {host} filled in
        ("production", "deploy@app-2", "/srv/shop/production"),  # the default for SSH hosts
        ("staging", "deploy@stage-1", "~/shop-staging"),  # left for the host to expand
        ("review", "local", "/work/shop/.conveyor/review/localhost"),  # relative: the project's
        ("development", "local", "/work/shop/.conveyor/hosts/development"),
    ],
)
def test_the_app_dir_on_each_host(environment: str, host: str, expected: str) -> None:
    config_ = shop()
    env = config_.environment(environment)
    assert app_dir_for(config_, env, host, Path("/work/shop")) == expected


def test_every_path_of_the_app_is_under_its_directory() -> None:
    paths = HostPaths("/srv/shop/production")
    assert [
        paths.releases,
        paths.release("r2"),
        paths.objects,
        paths.venv("abc-py3.11"),
        paths.env_file,
        paths.launcher,
        paths.retirer,
        paths.tools,
        paths.log("web-blue"),
    ] == [
        "/srv/shop/production/releases",
        "/srv/shop/production/releases/r2",
        "/srv/shop/production/objects",
        "/srv/shop/production/venvs/abc-py3.11",
        "/srv/shop/production/shared/.env",
        "/srv/shop/production/runtime/launch.py",
        "/srv/shop/production/runtime/retire.py",
        "/srv/shop/production/tools",
        "/srv/shop/production/logs/web-blue.log",
    ]


def test_each_service_gets_two_ports_its_own_or_by_its_place_in_the_config() -> None:
    config_ = shop()
    assert ports(config_, "web") == {"blue": 8100, "green": 8101}
    assert ports(config_, "admin") == {"blue": 9100, "green": 9101}
    assert ports(config_, "beat") == {"blue": 8104, "green": 8105}  # third service


@pytest.mark.parametrize(
    ("listen", "probed"),
    [
        (":8080", ("127.0.0.1", 8080)),
        ("0.0.0.0:80", ("127.0.0.1", 80)),
        ("[::]:443", ("127.0.0.1", 443)),
        ("10.0.0.5:80", ("10.0.0.5", 80)),
        ("[::1]:8080", ("::1", 8080)),
    ],
)
def test_a_probe_on_the_host_reaches_caddy_where_it_listens(
    listen: str, probed: tuple[str, int]
) -> None:
    assert loopback_port(listen) == probed


def test_a_singleton_runs_on_the_first_host_of_its_roles_only() -> None:
    config_ = shop()
    assert list(services_on(config_, ROLES, "deploy@app-2")) == ["web", "admin", "beat", "worker"]
    assert list(services_on(config_, ROLES, "deploy@app-3")) == ["worker"]
    kinds = services_by_kind(config_, ROLES, "deploy@app-2")
    assert (list(kinds.http), list(kinds.workers), list(kinds.singletons)) == (
        ["web", "admin"],
        ["worker"],
        ["beat"],
    )


def test_a_sync_is_a_hosts_work_but_not_a_program_it_runs() -> None:
    config_ = shop()
    assert services_on(config_, ROLES, "deploy@sched-1") == {}
    assert list(syncs_on(config_, ROLES, "deploy@sched-1")) == ["dags"]
    assert has_work(config_, ROLES, "deploy@sched-1")


def test_a_host_that_only_runs_the_migrations_has_work_and_one_with_its_own_role_none() -> None:
    config_ = shop()
    assert has_work(config_, ROLES, "deploy@db-1")
    assert not has_work(config_, ROLES, "deploy@db-2")
    assert idle_reason(["db", "backup"]) == (
        "nothing to run here (roles db, backup): gets no tools and no release"
    )
