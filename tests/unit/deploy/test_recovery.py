"""Recovery acting on one host: whether it serves cleanly, finishing it forward, and putting
it back (the interrupted release's idle programs stopped, never what serves or is warm).

The host is a fake, and a fake is fine here: what is tested is recovery's own choices
(which programs it stops, what it links, what it refuses and how it says so), which no
real part is needed for. `SeenHost` (test_observe.py) stands in for the host; its
program definitions are the ones a deploy writes (`programs.release_program`), and
health through Caddy is a stand-in for `wait_healthy`. Recovery on real hosts, killed
deploys included, is in tests/integration (test_recover).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from conveyor.deploy import observe, programs
from conveyor.deploy.events import Event
from conveyor.deploy.health import HealthResult, Settings
from conveyor.deploy.hostops import Target
from conveyor.deploy.interrupted import Interrupted
from conveyor.deploy.layout import HostPaths
from conveyor.deploy.recovery import Recovery
from conveyor.deploy.state import Colour, HostState, dumps
from conveyor.errors import ConveyorError
from tests.unit.deploy.test_executor import config
from tests.unit.deploy.test_observe import SeenHost
from tests.unit.deploy.test_plan_cases import project_of

SPEC = "deploy@app-1"
OLD = HostState(release="r1", version="1.0", colour="blue", venv="v1", deploy_id="d-1")
SWITCHED = OLD.switched("r2", version="2.0", venv="v2", at=1.0, deploy_id="d-9", warm_for=900)
KILLED = Interrupted("d-9", None, 300.0, "r2", (SPEC,))


def rig(
    state: HostState | None, *, keep_warm: float = 900, healthy: bool = True
) -> tuple[Recovery, SeenHost, Target, list[Event]]:
    host = SeenHost(SPEC)
    target = Target(SPEC, host, HostPaths("/srv/shop"), "python3")
    if state is not None:
        host.files[target.paths.state] = dumps(state).encode()
    events: list[Event] = []
    recovery = Recovery(
        config=project_of(config(hosts=[SPEC])).config,
        environment="production",
        targets=[target],
        roles={SPEC: ["backend"]},
        recover_id="d-10",
        settings=Settings(keep_warm=keep_warm),
        emit=events.append,
    )
    return recovery, host, target, events


def defined(
    recovery: Recovery, host: SeenHost, target: Target, name: str, colour: Colour, release: str
) -> str:
    """The program definition a deploy of `release` left on the host; returns its name."""
    prog = programs.release_program(
        target,
        recovery.config,
        name,
        colour=colour,
        release_id=release,
        version=release,
        venv_key="v",
    )
    text = target.runtime.render_program(prog)
    host.files[target.runtime.program_path(prog.name)] = text.encode()
    return prog.name


@pytest.fixture
def answering(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether web answers through Caddy (one value for every probe); True unless changed."""
    said = [True]

    async def wait_healthy(url: str, **_: Any) -> HealthResult:
        return HealthResult(said[0], "answers" if said[0] else "refused", ())

    monkeypatch.setattr(observe, "wait_healthy", wait_healthy)
    return said


def test_a_host_is_healthy_when_caddy_routes_its_colour_and_web_answers_there(
    answering: list[bool],
) -> None:
    recovery, host, target, _ = rig(SWITCHED)
    host.files[target.proxy("web").upstream_path] = b"127.0.0.1:8101\n"  # green
    assert asyncio.run(recovery.healthy(target, SWITCHED))
    answering[0] = False
    assert not asyncio.run(recovery.healthy(target, SWITCHED))


def test_a_host_routed_to_the_other_colour_or_serving_nothing_is_not_healthy(
    answering: list[bool],
) -> None:
    recovery, host, target, _ = rig(SWITCHED)
    host.files[target.proxy("web").upstream_path] = b"127.0.0.1:8100\n"  # still blue
    assert not asyncio.run(recovery.healthy(target, SWITCHED))
    assert not asyncio.run(recovery.healthy(target, HostState()))


def test_forward_links_current_and_keeps_the_old_web_colour_warm_for_a_rollback() -> None:
    recovery, host, target, events = rig(SWITCHED)
    assert asyncio.run(recovery.forward(target, SWITCHED)) == "r2"
    assert host.log[0] == "link r2"  # current -> releases/r2
    # The old colour is stopped later, by a retirer under supervisor, not now.
    assert "supervisor update, retire-blue" in host.log
    assert not any("stop web-blue" in line for line in host.log)
    assert [(e.host, e.step, e.message) for e in events] == [
        (SPEC, "recover", "finished forward: serves r2 on green")
    ]


def test_forward_without_warm_time_stops_the_old_web_colour_at_once() -> None:
    recovery, host, target, _ = rig(SWITCHED, keep_warm=0)
    asyncio.run(recovery.forward(target, SWITCHED))
    assert host.log == ["link r2", "supervisor stop web-blue"]


def test_forward_of_a_first_deploy_has_no_old_colour_to_stop() -> None:
    first = HostState().switched(
        "r2", version="2.0", venv="v2", at=1.0, deploy_id="d-9", warm_for=0
    )
    recovery, host, target, _ = rig(first)
    asyncio.run(recovery.forward(target, first))
    assert host.log == ["link r2"]


def test_back_refuses_a_host_on_the_interrupted_release_with_nothing_before_it() -> None:
    first = HostState().switched(
        "r2", version="2.0", venv="v2", at=1.0, deploy_id="d-9", warm_for=0
    )
    recovery, host, target, _ = rig(first)
    with pytest.raises(ConveyorError) as raised:
        asyncio.run(recovery.back(target, first, KILLED))
    assert raised.value.message == (
        f"{SPEC}: serves r2 from the interrupted deploy and has no previous release to go "
        "back to; it was left as it is"
    )
    assert raised.value.hint == "finish the deploy instead: conveyor deploy production"
    assert host.log == []  # nothing was touched


def test_back_on_a_host_the_deploy_never_switched_stops_what_it_started_there() -> None:
    recovery, host, target, events = rig(OLD)
    # The deploy had started r2 on the idle colour (green) before it was killed.
    defined(recovery, host, target, "web", "green", "r2")
    defined(recovery, host, target, "worker", "green", "r2")
    assert asyncio.run(recovery.back(target, OLD, KILLED)) == "r1"
    assert host.log == ["supervisor stop web-green", "supervisor stop worker-green"]
    assert [e.message for e in events] == [
        "stopped web-green (it ran r2)",
        "stopped worker-green (it ran r2)",
    ]


def test_back_never_stops_the_warm_previous_release_on_the_idle_colour() -> None:
    # r1 serves on green; blue still runs r0, kept warm for a rollback: it stays.
    serving = HostState(
        release="r1",
        colour="green",
        venv="v1",
        previous_release="r0",
        previous_colour="blue",
        deploy_id="d-1",
    )
    recovery, host, target, _ = rig(serving)
    defined(recovery, host, target, "web", "blue", "r0")
    defined(recovery, host, target, "worker", "blue", "r2")
    assert asyncio.run(recovery.back(target, serving, KILLED)) == "r1"
    assert host.log == ["supervisor stop worker-blue"]


def test_back_on_a_host_serving_nothing_looks_at_both_colours() -> None:
    recovery, host, target, _ = rig(None)
    defined(recovery, host, target, "web", "blue", "r2")
    defined(recovery, host, target, "worker", "green", "r2")
    assert asyncio.run(recovery.back(target, HostState(), KILLED)) == "nothing"
    assert host.log == ["supervisor stop web-blue", "supervisor stop worker-green"]


def test_back_after_a_stale_lock_without_a_release_stops_any_idle_program_but_what_serves() -> None:
    unknown = Interrupted(None, None, 900.0, None, (SPEC,))
    recovery, host, target, _ = rig(OLD)
    defined(recovery, host, target, "web", "green", "r7")
    defined(recovery, host, target, "worker", "green", "r1")  # what serves: kept
    asyncio.run(recovery.back(target, OLD, unknown))
    assert host.log == ["supervisor stop web-green"]
