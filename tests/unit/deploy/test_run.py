"""From a project to a recorded deploy: its history record, the events the record gets,
the hosts' states a dry run reads (and the hosts it may do without), and the planner's
label for the release.

The hosts are fakes, and a fake is fine here: what is tested is run.py's own logic (which
unreachable hosts the dry run lets go, what it records), which no real part is needed for.
`Reached` is memhost's host, which can refuse the connection and says which Python it
has. The history is a real store on SQLite under tmp_path. A deploy through real hosts is
in tests/integration (test_deploy) and tests/e2e.
"""

from __future__ import annotations

import asyncio
import getpass
import socket
from pathlib import Path
from types import SimpleNamespace

import pytest

from conveyor.build import Prepared
from conveyor.build import Release as Built
from conveyor.deploy.events import Event
from conveyor.deploy.health import Settings
from conveyor.deploy.hostops import Target
from conveyor.deploy.layout import HostPaths
from conveyor.deploy.plan import Plan
from conveyor.deploy.preflight import Limit, Preflight
from conveyor.deploy.run import _read_states, open_record, planner_for, recording
from conveyor.deploy.state import HostState, dumps
from conveyor.errors import HostError, HostUnreachable
from conveyor.history.store import HistoryStore
from conveyor.project.load import Project
from tests.unit.deploy.memhost import MemoryHost
from tests.unit.deploy.test_executor import config
from tests.unit.deploy.test_plan_cases import project_of

HOSTS = ["deploy@app-1", "deploy@app-2", "deploy@app-3"]
SERVING = HostState(release="r1", version="1.0", colour="blue", venv="v1")


class Reached(MemoryHost):
    """memhost's host; `refused`: its connection is refused; `python`: the version it has."""

    def __init__(self, name: str, *, refused: bool = False, python: str = "3.11.7") -> None:
        super().__init__(name)
        self.refused, self.python = refused, python

    async def connect(self) -> None:
        if self.refused:
            raise HostUnreachable(f"{self.name}: connection refused\n(after 3 attempts)")

    def _answer(self, argv: list[str]) -> tuple[int, str]:
        if "sys.version_info" in " ".join(argv):
            return 0, f"{self.python}\n"
        return super()._answer(argv)


def targets(*hosts: Reached, requires: str | None = None) -> list[Target]:
    found = []
    for host in hosts:
        target = Target(host.name, host, HostPaths("/srv/shop"), "python3", requires=requires)
        host.files[target.paths.state] = dumps(SERVING).encode()
        found.append(target)
    return found


def test_every_host_reached_gives_its_state_in_the_environments_order() -> None:
    found = asyncio.run(_read_states(targets(*(Reached(h) for h in HOSTS)), 0))
    assert found == dict.fromkeys(HOSTS, SERVING)
    assert list(found) == HOSTS


def test_unreachable_hosts_that_max_failures_allows_are_planned_with_why() -> None:
    hosts = [Reached(HOSTS[0]), Reached(HOSTS[1], refused=True), Reached(HOSTS[2])]
    found = asyncio.run(_read_states(targets(*hosts), 1))
    assert list(found) == HOSTS  # still in the environment's order
    assert found[HOSTS[1]] == "connect: deploy@app-2: connection refused"
    assert found[HOSTS[0]] == found[HOSTS[2]] == SERVING


def test_one_unreachable_host_more_than_max_failures_fails_the_dry_run_with_its_error() -> None:
    hosts = [Reached(HOSTS[0], refused=True), Reached(HOSTS[1], refused=True), Reached(HOSTS[2])]
    with pytest.raises(HostUnreachable, match=r"^deploy@app-2: connection refused"):
        asyncio.run(_read_states(targets(*hosts), 1))
    with pytest.raises(HostUnreachable, match=r"^deploy@app-1: connection refused"):
        asyncio.run(_read_states(targets(*hosts), 0))


def test_a_deploy_left_with_no_host_fails_whatever_max_failures_allows() -> None:
    with pytest.raises(HostUnreachable, match=r"^deploy@app-1: connection refused"):
        asyncio.run(_read_states(targets(Reached(HOSTS[0], refused=True)), 5))


def test_a_host_whose_python_is_too_old_fails_the_dry_run_as_the_deploy_would() -> None:
    hosts = [Reached(HOSTS[0]), Reached(HOSTS[1], python="3.9.2")]
    with pytest.raises(HostError) as raised:
        asyncio.run(_read_states(targets(*hosts, requires=">=3.11"), 0))
    assert raised.value.message == (
        "deploy@app-2: python3 is Python 3.9.2, but the project requires Python >=3.11 "
        "(pyproject.toml requires-python); nothing was changed"
    )


def project(tmp_path: Path) -> Project:
    config_ = project_of(config(hosts=HOSTS)).config
    return Project(root=tmp_path, config_path=tmp_path / "conveyor.toml", config=config_)


def test_a_deploy_is_recorded_as_running_by_this_user_on_this_machine(tmp_path: Path) -> None:
    store, deploy_id = open_record(
        project(tmp_path),
        "production",
        kind="deploy",
        hosts=HOSTS[:2],
        release="r2",
        version="2.0",
        commit="abc1234",
    )
    store.close()
    with HistoryStore.for_project(tmp_path) as again:
        record = again.get(deploy_id)
    assert (record.status, record.kind, record.release, record.version) == (
        "running",
        "deploy",
        "r2",
        "2.0",
    )
    assert record.hosts == tuple(HOSTS[:2])
    assert (record.user, record.machine) == (getpass.getuser(), socket.gethostname())


def test_every_event_goes_into_the_record_then_to_the_screen(tmp_path: Path) -> None:
    store, deploy_id = open_record(
        project(tmp_path), "production", kind="deploy", hosts=HOSTS, release="r2"
    )
    shown: list[Event] = []
    bus = recording(store, deploy_id, shown.append)
    bus(Event(HOSTS[0], "switch", "start", "Caddy -> green", kind="step"))
    bus(
        Event(
            HOSTS[0],
            "switch",
            "ok",
            "Caddy routes to green",
            kind="switched",
            seconds=0.25,
            fields={"service": "web", "port": 8101},
        )
    )
    store.finish(deploy_id, status="succeeded", message="deployed")
    events = store.events(deploy_id)
    store.close()
    assert [e.message for e in shown] == ["Caddy -> green", "Caddy routes to green"]
    assert [(e.host, e.kind, e.message) for e in events] == [
        (HOSTS[0], "switch:start", "Caddy -> green"),
        (HOSTS[0], "switch:ok", "Caddy routes to green"),
    ]
    assert events[1].fields == {"event": "switched", "service": "web", "port": 8101}
    assert events[1].seconds == 0.25


def test_without_a_screen_the_events_still_go_into_the_record(tmp_path: Path) -> None:
    store, deploy_id = open_record(
        project(tmp_path), "production", kind="rollback", hosts=HOSTS, release=""
    )
    recording(store, deploy_id, None)(Event(None, "watch", "ok", "30s without errors"))
    store.finish(deploy_id, status="succeeded", message="rolled back")
    [event] = store.events(deploy_id)
    store.close()
    assert (event.host, event.kind, event.fields) == (None, "watch:ok", {"event": "note"})


def checked(release: Built | Prepared, *, left_out: list[str] | None = None) -> Preflight:
    rendered = SimpleNamespace(keys=3, overrides=())
    return Preflight(HOSTS, left_out or [], rendered, release, {})  # type: ignore[arg-type]


def plan_with(release: Built | Prepared, states: dict[str, HostState | str]) -> Plan:
    shop = project_of(config(hosts=HOSTS))
    plan = planner_for(
        shop,
        "production",
        checked(release),
        ref="main",
        targets=[Target(h, MemoryHost(h), HostPaths("/srv/shop"), "python3") for h in HOSTS],
        roles={h: ["backend"] for h in HOSTS},
        timing=Settings(watch=0),
        limit=Limit(),
    )
    return plan(states)


def test_a_built_release_is_planned_by_its_id_and_only_for_the_hosts_still_in_it() -> None:
    built = Built("r-2026-1", "2.0", "abc1234", Path("/x"), "0123456789abcdef", None)  # type: ignore[arg-type]
    plan = plan_with(built, {HOSTS[0]: SERVING, HOSTS[2]: SERVING})
    assert plan.release == "r-2026-1"
    hosts = {s.host for s in plan.steps}
    assert HOSTS[0] in hosts and HOSTS[2] in hosts and HOSTS[1] not in hosts


def test_a_release_built_at_deploy_is_planned_by_its_version_ref_and_commit() -> None:
    manifest = SimpleNamespace(version="2.0", lock_hash="0123456789abcdef")
    prepared = Prepared("r-2026-1", "abc1234def", manifest, (), None)  # type: ignore[arg-type]
    plan = plan_with(prepared, dict.fromkeys(HOSTS, SERVING))
    assert plan.release == "2.0 (main = abc1234, built at deploy)"


def test_a_hotfix_deploy_is_recorded_as_one(tmp_path: Path) -> None:
    store, deploy_id = open_record(
        project(tmp_path), "production", kind="deploy", hosts=HOSTS, release="r2", hotfix=True
    )
    store.close()
    with HistoryStore.for_project(tmp_path) as again:
        assert again.get(deploy_id).hotfix
