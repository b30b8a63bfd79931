"""The undo journal played back by the real engine, on a host kept in memory.

A fake is used here on purpose: `MemoryHost` (tests/unit/deploy/memhost.py) keeps
the host's files in a dict and carries out only what the engine reads back. What is tested is the journal's own logic: the
order it undoes in, that every entry is tried, and what it leaves for `conveyor
recover` when traffic could not go back. The same playback on real supervisor
and Caddy is in tests/integration/test_faults.py.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from conveyor.deploy.engine import Engine
from conveyor.deploy.events import Event
from conveyor.deploy.health import Settings
from conveyor.deploy.hostops import Target
from conveyor.deploy.journal import FILES, PROGRAMS, RECORDS, TRAFFIC, HostRun, Undo
from conveyor.deploy.layout import HostPaths, ports
from conveyor.deploy.plan import Op
from conveyor.deploy.state import HostState
from conveyor.errors import ConveyorError, HostUnreachable
from tests.unit.deploy.memhost import MemoryHost
from tests.unit.deploy.test_executor import LIVE, config
from tests.unit.deploy.test_plan_cases import project_of

SPEC = "deploy@app-1"


def engine(events: list[Event]) -> Engine:
    project = project_of(config(hosts=[SPEC]))
    return Engine(project.config, {SPEC: ["backend"]}, "d-2", Settings(), events.append)


def run_of(host: MemoryHost, journal: list[Undo]) -> HostRun:
    target = Target(SPEC, host, HostPaths("/srv/shop"), "python3")
    run = HostRun(target, HostState(**LIVE), journal=journal)  # type: ignore[arg-type]
    run.routed = True
    return run


# What a deploy that switched app-1 to blue had journalled, in the order it did it.
JOURNAL = [
    Undo(PROGRAMS, Op("stop", program="web-blue")),
    Undo(RECORDS, Op("restore", release="r2")),  # the pending mark
    Undo(TRAFFIC, Op("route", service="web", colour="green")),
    Undo(PROGRAMS, Op("start", program="worker-green")),  # it drained the old worker
    Undo(FILES, Op("sync", "dags", release="", venv="")),
    Undo(RECORDS, Op("restore")),  # its link and record
]


def test_playback_puts_traffic_back_first_then_programs_files_and_the_record() -> None:
    host, events = MemoryHost(SPEC), []
    run = run_of(host, list(JOURNAL))
    back = asyncio.run(engine(events).undo(run))
    assert back is True  # traffic went back to a colour that served before
    green = ports(engine([]).config, "web")["green"]
    assert host.log == [
        f"route 127.0.0.1:{green}",
        "start worker-green",  # of two program entries, the later one goes back first
        "supervisor stop web-blue",
        "put state.json",  # as it was before the deploy
        "link r1",
    ]
    assert json.loads(host.files["/srv/shop/state.json"])["release"] == "r1"
    assert run.journal == []  # played back once, never twice
    undone = [e for e in events if e.kind == "undone"]
    assert [e.fields["op"] for e in undone] == ["route", "stop"]


def test_every_entry_is_tried_when_routing_back_fails_and_the_pending_mark_stays() -> None:
    host, events = MemoryHost(SPEC, refuse="upstream"), []
    run = run_of(host, list(JOURNAL))
    with pytest.raises(ConveyorError, match=r"put back only in part: route web: "):
        asyncio.run(engine(events).undo(run))
    assert "supervisor stop web-blue" in host.log  # tried although the route back failed
    state = json.loads(host.files["/srv/shop/state.json"])
    assert state["pending_release"] == "r2"  # `conveyor recover` finds the host by it
    assert state["deploy_id"] == "d-2"
    assert not [line for line in host.log if line.startswith("link")]


def test_a_host_that_cannot_be_reached_stops_the_playback_at_once() -> None:
    host = MemoryHost(SPEC, down=True)
    with pytest.raises(HostUnreachable):
        asyncio.run(engine([]).undo(run_of(host, list(JOURNAL))))
    assert host.files == {}


def test_a_host_that_never_routed_plays_back_without_claiming_traffic_went_back() -> None:
    host = MemoryHost(SPEC)
    run = run_of(host, [Undo(PROGRAMS, Op("stop", program="web-blue"))])
    run.routed = False
    assert asyncio.run(engine([]).undo(run)) is False
    assert host.log == ["supervisor stop web-blue"]


class FullDisk(MemoryHost):
    """A host whose state.json cannot be written (its disk is full)."""

    async def put(self, data: bytes, path: str, *, mode: int = 0o644) -> None:
        if path.endswith("state.json"):
            raise ConveyorError(f"{self.name}: cannot write {path}: No space left on device")
        await super().put(data, path, mode=mode)


def test_a_record_that_cannot_be_written_back_is_named_after_everything_else_was_tried() -> None:
    host = FullDisk(SPEC)
    with pytest.raises(ConveyorError) as raised:
        asyncio.run(engine([]).undo(run_of(host, list(JOURNAL))))
    assert raised.value.message == (
        f"{SPEC}: put back only in part: state.json: {SPEC}: cannot write "
        "/srv/shop/state.json: No space left on device"
    )
    # Traffic and programs went back before the record was tried.
    assert host.log[:2] == [
        f"route 127.0.0.1:{ports(engine([]).config, 'web')['green']}",
        "start worker-green",
    ]


class Synced(MemoryHost):
    """A host whose sync script says what it copied."""

    def _answer(self, argv: list[str]) -> tuple[int, str]:
        if len(argv) > 3 and argv[1] == "-c" and "conveyor-sync" in argv[2]:
            self.log.append(f"sync {argv[3].rsplit('/', 3)[-3]}")
            said = {"missing": False, "message": f"2 file(s) in {argv[4]}: 2 copied, 0 removed"}
            return 0, json.dumps(said) + "\n"
        return super()._answer(argv)


def test_a_syncs_files_go_back_to_those_of_the_release_served_before() -> None:
    text = config(hosts=[SPEC]) + (
        '\n[services.dags]\nsync = { from = "dags", to = "/opt/airflow/dags" }\n'
        'roles = ["backend"]\n'
    )
    events: list[Event] = []
    eng = Engine(project_of(text).config, {SPEC: ["backend"]}, "d-2", Settings(), events.append)
    host = Synced(SPEC)
    run = run_of(host, [Undo(FILES, Op("sync", "dags", release="r1", venv="v1"))])
    asyncio.run(eng.undo(run))
    assert host.log == ["sync r1"]  # the files of r1, the release the host served before
    nothing = run_of(host, [Undo(FILES, Op("sync", "dags", release="", venv=""))])
    asyncio.run(eng.undo(nothing))
    assert host.log == ["sync r1"]  # no earlier files: nothing is copied
    assert events[-1].message == "dags: no earlier files to put back"
