"""The engine's operations on one host: what each writes, what it journals, what it says.

On an in-memory host (tests/unit/deploy/memhost.py), a fake used on purpose: what is
tested is the engine's own bookkeeping (the state it records, the inverse it journals,
the events it publishes), which needs no real host. The same operations against real
sshd, supervisor and Caddy are in tests/integration (test_deploy, test_faults).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from conveyor.deploy.engine import Engine
from conveyor.deploy.events import Event
from conveyor.deploy.health import Settings
from conveyor.deploy.hostops import Target
from conveyor.deploy.journal import FILES, PROGRAMS, RECORDS, TRAFFIC, HostRun, Undo
from conveyor.deploy.layout import HostPaths, ports
from conveyor.deploy.plan import Op, Step
from conveyor.deploy.state import HostState
from conveyor.errors import ConveyorError
from tests.unit.deploy.memhost import MemoryHost
from tests.unit.deploy.test_executor import LIVE, config
from tests.unit.deploy.test_plan_cases import project_of

SPEC = "deploy@app-1"
STATE = "/srv/shop/state.json"
TO = {"colour": "blue", "release": "r2", "version": "2.0", "venv": "v2"}


def setup(
    *, before: dict[str, Any] | None = None, keep_warm: float = 900, text: str = ""
) -> tuple[Engine, HostRun, MemoryHost, list[Event]]:
    events: list[Event] = []
    project = project_of(text or config(hosts=[SPEC]))
    engine = Engine(
        project.config, {SPEC: ["backend"]}, "d-2", Settings(keep_warm=keep_warm), events.append
    )
    host = MemoryHost(SPEC)
    state = HostState(**(LIVE if before is None else before))  # type: ignore[arg-type]
    run = HostRun(Target(SPEC, host, HostPaths("/srv/shop"), "python3"), state)
    return engine, run, host, events


def do(engine: Engine, run: HostRun, action: str, kind: str, **op: Any) -> None:
    step = Step(SPEC, action, f"{action} for a test", op=Op(kind, **{**TO, **op}), phase="p")
    asyncio.run(engine.do(run, step))


def state_of(host: MemoryHost) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(host.files[STATE])
    return data


def test_a_step_says_when_it_starts_and_how_long_it_took_and_is_counted_done() -> None:
    engine, run, _, events = setup()
    do(engine, run, "state", "mark")
    steps = [e for e in events if e.kind == "step"]
    assert [(e.status, e.fields["op"], e.fields["phase"]) for e in steps] == [
        ("start", "mark", "p"),
        ("ok", "mark", "p"),
    ]
    assert steps[0].seconds is None and steps[1].seconds is not None
    assert [s.action for s in run.done] == ["state"]


def test_a_failed_step_says_why_is_raised_and_is_not_counted_done() -> None:
    engine, run, host, events = setup()
    host.refuse = "upstream"
    with pytest.raises(ConveyorError):
        do(engine, run, "switch", "route", service="web", how="proxy")
    failed = [e for e in events if e.kind == "step" and e.status == "fail"]
    assert len(failed) == 1 and "failed" in failed[0].message
    assert run.done == []


def test_the_mark_records_the_pending_release_and_journals_its_removal() -> None:
    engine, run, host, _ = setup()
    do(engine, run, "state", "mark")
    state = state_of(host)
    assert (state["pending_release"], state["deploy_id"], state["release"]) == ("r2", "d-2", "r1")
    assert run.touched
    assert run.journal == [Undo(RECORDS, Op("restore", release="r2"))]


def test_routing_to_the_new_colour_journals_the_route_back_and_says_where() -> None:
    engine, run, host, events = setup()
    do(engine, run, "switch", "route", service="web", how="proxy")
    blue, green = (ports(engine.config, "web")[c] for c in ("blue", "green"))
    assert host.log[-1] == f"route 127.0.0.1:{blue}"  # after Caddy was found running
    assert run.routed and run.back_at is not None
    assert run.journal == [Undo(TRAFFIC, Op("route", service="web", colour="green"))]
    switched = [e for e in events if e.kind == "switched"]
    assert [(e.fields["service"], e.fields["port"], e.fields["colour"]) for e in switched] == [
        ("web", blue, "blue")
    ]
    assert green != blue


def test_a_first_route_has_no_colour_to_go_back_to() -> None:
    engine, run, _, _ = setup(before={})
    do(engine, run, "switch", "route", service="web", how="proxy")
    assert run.journal == []  # nothing served before: undo stops programs, routes nowhere


@pytest.mark.parametrize(
    ("said", "how", "journalled"),
    [
        ("stopped", "stopped gracefully", True),
        ("ERROR (not running)", "was not running: nothing to stop", False),
        ("ERROR (no such process)", "did not exist: nothing to stop", False),
    ],
)
def test_a_stop_journals_a_start_only_when_it_stopped_something(
    said: str, how: str, journalled: bool
) -> None:
    engine, run, host, events = setup()
    host.stopped["worker-green"] = said
    do(engine, run, "stop", "stop", service="worker", program="worker-green")
    assert f"worker-green {how}" in [e.message for e in events]
    expected = [Undo(PROGRAMS, Op("start", program="worker-green"))] if journalled else []
    assert run.journal == expected
    assert host.log == ["supervisor stop worker-green"]


def test_a_worker_spawned_while_the_host_gets_ready_is_waited_for_by_its_start() -> None:
    """A rollback starts a worker first and waits for it after the switch: one start, one
    journal entry, one event; it is among the host's cold programs (a failure before the
    switch stops those)."""
    engine, run, host, events = setup()
    do(engine, run, "ready", "spawn", service="worker")
    assert host.log[-1] == "supervisor update, worker-blue, nowait"
    assert run.cold == ["worker-blue"] and run.spawned == {"worker-blue"}
    assert run.warm  # the web colours' warmth is not the worker's
    do(engine, run, "start", "start", service="worker")
    # Waited for: not defined or started again (one that exited meanwhile fails).
    assert host.log[-1] == "supervisor worker-blue, started"
    assert run.journal == [Undo(PROGRAMS, Op("stop", program="worker-blue"))]
    starting = [e.message for e in events if e.message.startswith("starting")]
    assert starting == ["starting worker-blue"]


def test_the_record_of_a_switch_names_both_releases_the_ports_and_the_warm_time() -> None:
    engine, run, host, events = setup(keep_warm=600)
    do(engine, run, "state", "record", how="switched")
    state = state_of(host)
    assert (state["release"], state["colour"], state["version"], state["venv"]) == (
        "r2", "blue", "2.0", "v2"
    )  # fmt: skip
    assert (state["previous_release"], state["previous_colour"]) == ("r1", "green")
    assert state["pending_release"] is None and state["deploy_id"] == "d-2"
    assert state["warm_until"] == pytest.approx(state["switched_at"] + 600)
    assert set(state["ports"]) == {"web", "worker"}
    assert run.after is not None and run.after.release == "r2"
    assert run.journal == [Undo(RECORDS, Op("restore"))]
    assert "serving 2.0 on blue" in [e.message for e in events]


def test_the_record_of_a_rollback_swaps_the_releases_and_a_cleared_one_drops_the_mark() -> None:
    before = {**LIVE, "previous_release": "r0", "previous_colour": "blue", "previous_venv": "v0"}
    engine, run, host, _ = setup(before=before)
    do(engine, run, "state", "record", how="rolled_back")
    state = state_of(host)
    assert (state["release"], state["colour"], state["previous_release"]) == ("r0", "blue", "r1")
    engine, run, host, _ = setup(before={**LIVE, "pending_release": "r2"})
    do(engine, run, "state", "record", how="cleared")
    assert state_of(host)["pending_release"] is None
    assert state_of(host)["release"] == "r1"


def test_a_sync_journals_the_files_it_replaces_before_it_copies() -> None:
    text = config(hosts=[SPEC]).replace(
        "[environments.production]",
        '[services.dags]\nsync = { from = "dags", to = "/opt/dags" }\nroles = ["backend"]\n\n'
        "[environments.production]",
    )
    engine, run, host, _ = setup(text=text)
    host.refuse = "/opt/dags"  # the copy fails part way: undo must still put the old back
    with pytest.raises(ConveyorError):
        do(engine, run, "sync", "sync", service="dags")
    assert run.journal == [Undo(FILES, Op("sync", "dags", release="r1", venv="v1"))]


def test_retiring_with_no_warm_time_stops_the_old_colour_now() -> None:
    engine, run, host, events = setup(keep_warm=0)
    do(engine, run, "retire", "retire", colour="green")
    assert host.log == ["supervisor stop web-green"]
    assert "stopped web-green" in [e.message for e in events]


def test_retiring_with_a_warm_time_defines_and_starts_the_retirer_in_one_round_trip() -> None:
    engine, run, host, events = setup(keep_warm=900)
    do(engine, run, "retire", "retire", colour="green")
    assert host.log == [
        "put retire-green.conf",
        "put retire-green.log",
        "supervisor update, retire-green",
    ]
    conf = host.files["/srv/shop/runtime/programs/retire-green.conf"].decode()
    assert "900 web-green" in conf
    assert "green stays warm for 15 min, then stops" in [e.message for e in events]
