"""A host read back: what it records, where Caddy routes, what runs, and what is wrong there.

The host is a fake, and a fake is fine here: what is tested is the reading's own logic
(which service is probed, what counts as a problem, how it is worded), which no real part
is needed for. `SeenHost` (memhost.py's host, plus `cat` of its files) stands in for the
host, and health through Caddy is answered by a stand-in for `wait_healthy` that says
which ports answer. The same reading against real Caddy and supervisor is in
tests/integration (test_recover, test_power).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import pytest

from conveyor.deploy import observe as observe_module
from conveyor.deploy.health import HealthResult
from conveyor.deploy.hostops import Target
from conveyor.deploy.layout import HostPaths
from conveyor.deploy.observe import Observed, already_live, observe, observe_all
from conveyor.deploy.state import HostState, dumps
from conveyor.project.model import ConveyorConfig
from tests.unit.deploy.memhost import MemoryHost
from tests.unit.deploy.test_executor import config
from tests.unit.deploy.test_plan_cases import project_of

SPEC = "deploy@app-1"
ROLES = {SPEC: ["backend"]}
WEB = {"blue": 8100, "green": 8101}  # web is the first service: BASE_PORT and the next one
SERVING = HostState(release="r1", version="1.0", colour="blue", venv="v1")


class SeenHost(MemoryHost):
    """memhost's host, which also prints a file it holds when asked to `cat` it."""

    def _answer(self, argv: list[str]) -> tuple[int, str]:
        if argv[0] == "cat" and not self.down:
            self.log.append(f"cat {argv[1].rsplit('/', 1)[-1]}")
            found = self.files.get(argv[1])
            return (0, found.decode()) if found is not None else (1, "")
        return super()._answer(argv)


def cfg() -> ConveyorConfig:
    return project_of(config(hosts=[SPEC])).config


def host_at(
    state: HostState | None = None,
    *,
    spec: str = SPEC,
    route: str | None = "127.0.0.1:8100\n",
    running: Iterable[str] = ("web-blue", "worker-blue"),
    env: str | None = None,
) -> tuple[SeenHost, Target]:
    """A host that records `state`, whose Caddy routes web to `route`, running `running`."""
    host = SeenHost(spec)
    target = Target(spec, host, HostPaths("/srv/shop"), "python3")
    if state is not None:
        host.files[target.paths.state] = dumps(state).encode()
    if route is not None:
        host.files[target.proxy("web").upstream_path] = route.encode()
    host.status = "".join(f"{name:<32} RUNNING   pid 7, uptime 0:01:00\n" for name in running)
    if env is not None:
        host.files[target.paths.env_file] = env.encode()
    return host, target


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The URLs probed; those on port 8080 answer (Caddy's default address, the web's)."""
    probed: list[str] = []

    async def wait_healthy(url: str, **_: Any) -> HealthResult:
        probed.append(url)
        healthy = url.startswith("http://127.0.0.1:8080/")
        return HealthResult(healthy, "2 healthy answers" if healthy else "refused", ())

    monkeypatch.setattr(observe_module, "wait_healthy", wait_healthy)
    return probed


def seen(
    *,
    state: HostState = SERVING,
    routes: dict[str, int | None] | None = None,
    answering: dict[str, bool] | None = None,
    programs: dict[str, str] | None = None,
) -> Observed:
    return Observed(
        SPEC,
        state,
        {"web": WEB["blue"]} if routes is None else routes,
        {"web": True} if answering is None else answering,
        {"web-blue": "running", "worker-blue": "running"} if programs is None else programs,
    )


def test_a_host_serving_its_release_cleanly_has_no_problems() -> None:
    assert seen().problems(cfg()) == []
    assert seen().serving() == "r1"


def test_each_thing_in_the_way_of_serving_one_release_is_named() -> None:
    pending = HostState(**{**SERVING.__dict__, "pending_release": "r2"})
    assert seen(state=pending).problems(cfg()) == [
        "state.json still records a pending switch to r2"
    ]
    assert seen(routes={"web": None}).problems(cfg()) == [
        "Caddy of web is not running or unreadable"
    ]
    assert seen(routes={"web": WEB["green"]}).problems(cfg()) == [
        "Caddy routes web to port 8101, not blue (8100)"
    ]
    assert seen(answering={"web": False}).problems(cfg()) == [
        "web does not answer its health check through Caddy"
    ]
    assert seen(programs={"web-blue": "running", "worker-blue": "fatal"}).problems(cfg()) == [
        "worker-blue is not running (fatal)"
    ]


def test_every_problem_of_a_host_is_listed_not_only_the_first() -> None:
    pending = HostState(**{**SERVING.__dict__, "pending_release": "r2"})
    found = seen(
        state=pending,
        routes={"web": WEB["green"]},
        programs={"web-blue": "backoff", "worker-blue": "not defined"},
    ).problems(cfg())
    assert found == [
        "state.json still records a pending switch to r2",
        "Caddy routes web to port 8101, not blue (8100)",
        "web-blue is not running (backoff)",
        "worker-blue is not running (not defined)",
    ]


def test_a_host_that_records_no_colour_has_no_right_port_for_caddy() -> None:
    found = seen(state=HostState(), routes={"web": WEB["blue"]}, programs={}).problems(cfg())
    assert found == ["Caddy routes web to port 8100; state.json records no colour"]
    assert seen(state=HostState(), routes={}, programs={}).serving() == "nothing"


def test_a_host_whose_web_does_not_answer_says_so_beside_its_release() -> None:
    assert seen(answering={"web": False}).serving() == (
        "r1 by its state.json, but not answering through Caddy"
    )
    # A host without web services serves what it records.
    assert seen(routes={}, answering={}).serving() == "r1"


def test_a_host_is_read_back_from_its_files_caddy_and_supervisor(answering: list[str]) -> None:
    _, target = host_at(SERVING)
    found = asyncio.run(observe(target, cfg(), ROLES))
    assert found == Observed(
        SPEC,
        SERVING,
        routes={"web": 8100},
        answering={"web": True},
        programs={"web-blue": "running", "worker-blue": "running"},
    )
    # Health is asked of Caddy's own address (":8080", the default listen), not of the colour.
    assert answering == ["http://127.0.0.1:8080/health"]
    assert found.problems(cfg()) == []


def test_caddy_routed_elsewhere_is_not_probed_and_is_reported(answering: list[str]) -> None:
    _, target = host_at(SERVING, route="127.0.0.1:8101\n")
    found = asyncio.run(observe(target, cfg(), ROLES))
    assert found.routes == {"web": 8101} and found.answering == {"web": False}
    assert answering == []  # no waiting on a colour that gets no traffic anyway
    assert found.problems(cfg()) == ["Caddy routes web to port 8101, not blue (8100)"]


@pytest.mark.parametrize("route", [None, "garbage\n", "10.0.0.9:8100\n"])
def test_a_caddy_without_a_readable_upstream_is_not_running_or_unreadable(
    answering: list[str], route: str | None
) -> None:
    _, target = host_at(SERVING, route=route)
    found = asyncio.run(observe(target, cfg(), ROLES))
    assert found.routes == {"web": None}
    assert found.problems(cfg()) == ["Caddy of web is not running or unreadable"]


def test_a_program_supervisor_does_not_know_is_not_defined(answering: list[str]) -> None:
    _, target = host_at(SERVING, running=["web-blue", "worker-green"])
    found = asyncio.run(observe(target, cfg(), ROLES))
    assert found.programs == {"web-blue": "running", "worker-blue": "not defined"}
    assert found.problems(cfg()) == ["worker-blue is not running (not defined)"]


def test_a_host_never_deployed_to_is_not_asked_about_programs(answering: list[str]) -> None:
    host, target = host_at(None, route=None)
    found = asyncio.run(observe(target, cfg(), ROLES))
    assert (found.state, found.programs) == (HostState(), {})
    assert not any("supervisor" in line for line in host.log)


def test_hosts_that_cannot_be_read_back_say_why_and_the_others_are_read(
    answering: list[str],
) -> None:
    roles = {SPEC: ["backend"], "deploy@app-2": ["backend"], "deploy@app-3": ["backend"]}
    _, good = host_at(SERVING)
    down, gone = host_at(SERVING, spec="deploy@app-2")
    down.down = True
    damaged, broken = host_at(None, spec="deploy@app-3")
    damaged.files[broken.paths.state] = b"{not json"
    found = asyncio.run(observe_all([good, gone, broken], cfg(), roles))
    assert list(found) == [SPEC, "deploy@app-2", "deploy@app-3"]
    assert isinstance(found[SPEC], Observed)
    assert found["deploy@app-2"] == "could not be read back: deploy@app-2: connection refused"
    said = found["deploy@app-3"]
    assert isinstance(said, str)
    assert said.startswith(
        "could not be read back: deploy@app-3:/srv/shop/state.json: the host's state file is damaged"
    )


def live(state: HostState, **host: Any) -> set[str]:
    _, target = host_at(state, **host)
    return asyncio.run(
        already_live(cfg(), ROLES, [target], {SPEC: state}, "r1", "DB_URL=postgres://db\n")
    )


def test_a_host_on_the_release_with_the_same_values_and_its_web_running_is_live() -> None:
    assert live(SERVING, env="DB_URL=postgres://db\n") == {SPEC}


def test_a_host_is_not_live_when_anything_a_deploy_would_change_differs() -> None:
    assert live(SERVING, env="DB_URL=postgres://other\n") == set()  # values changed
    assert live(SERVING) == set()  # no .env on the host
    assert live(SERVING, env="DB_URL=postgres://db\n", running=["worker-blue"]) == set()
    on_r0 = HostState(**{**SERVING.__dict__, "release": "r0"})
    assert live(on_r0, env="DB_URL=postgres://db\n") == set()
    assert live(HostState(release="r1"), env="DB_URL=postgres://db\n") == set()  # no colour
