"""Where the app lives on a host: "~" expanded with the host's own home, per-host listen."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from conveyor.deploy.layout import HostPaths, expand_home, listen_address
from conveyor.deploy.plan import HostView, views
from conveyor.deploy.planner import build_plan
from conveyor.deploy.state import HostState
from tests.unit.deploy.test_plan import config


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
