"""`conveyor stop` / `conveyor start`: what each host is left running, what is recorded, and
what a failure on one host does to the others.

The hosts are fakes, and a fake is fine here: what is tested is power's own logic (which
hosts, in which order of locks, what is written to state.json and the history, what a
dry run changes: nothing), which no real part is needed for. `PoweredHost` is memhost's
host with a supervisord that is up or down (its status exits 4 while down, a shutdown
takes it down, its boot brings it up, a start makes a program run); the deploy lock is
the real lock script, run here on a directory under tmp_path; health is answered by a
stand-in for the gate and for the probe through Caddy. Real supervisor and Caddy being
stopped and started are in tests/integration (test_power).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

from conveyor.deploy import observe, power
from conveyor.deploy.events import Event
from conveyor.deploy.health import HealthResult
from conveyor.deploy.hostops import Target
from conveyor.deploy.layout import HostPaths
from conveyor.deploy.lock import LockOwner, acquire
from conveyor.deploy.power import PowerResult, summary
from conveyor.deploy.state import HostState, dumps, loads
from conveyor.errors import LockHeld
from conveyor.history.store import HistoryStore
from conveyor.project.load import Project
from tests.unit.deploy.test_observe import SeenHost
from tests.unit.deploy.test_plan_cases import project_of

HOSTS = ["deploy@app-1", "deploy@app-2"]
SERVING = HostState(release="r1", version="1.0", colour="blue", venv="v1")
TOML = """
[app]
name = "shop"
[services.web]
command = "uvicorn shop.main:app --port $PORT"
health = "/health"
roles = ["backend"]
[services.worker]
command = "celery -A shop worker"
roles = ["backend"]
[services.beat]
command = "celery -A shop beat"
kind = "singleton"
roles = ["backend"]
[environments.production]
hosts = { backend = ["deploy@app-1", "deploy@app-2"] }
"""


class PoweredHost(SeenHost):
    """A host whose supervisord is up or down, running the programs it was told to start."""

    def __init__(self, name: str, *, up: bool, running: Iterable[str] = ()) -> None:
        super().__init__(name)
        self.up = up
        self.running = set(running)

    def _answer(self, argv: list[str]) -> tuple[int, str]:
        text = " ".join(argv)
        if argv[:2] == ["python3", "-c"] and "deploy.lock" in text:
            self.log.append("lock")  # the real lock script, on a directory of this machine
            done = subprocess.run(
                [sys.executable, *argv[1:]], capture_output=True, text=True, check=False
            )
            return done.returncode, done.stdout
        if "getAllProcessInfo" in text and "startProcess" not in text:  # the status script
            if not self.up:
                return 4, "unix:///srv/supervisor.sock refused connection"
            self.status = "".join(f"{n:<32} RUNNING   pid 7\n" for n in sorted(self.running))
        elif argv[-1] == "shutdown":
            self.up, self.running = False, set()
        elif argv[0].endswith("/supervisord"):
            self.up = True
        elif "startProcess" in text:
            words = argv[5:]
            self.running -= {w[len("stop=") :] for w in words if w.startswith("stop=")}
            self.running |= {w for w in words if "=" not in w and w != "update"}
        return super()._answer(argv)


class Rig:
    """An environment of PoweredHosts that `power` reaches instead of SSH hosts."""

    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root = tmp_path
        config = project_of(TOML).config
        self.project = Project(root=tmp_path, config_path=tmp_path / "conveyor.toml", config=config)
        self.hosts: dict[str, PoweredHost] = {}
        self.targets: list[Target] = []
        self.events: list[Event] = []
        self.healthy = True
        monkeypatch.setattr(power, "targets_for", self._targets_for)
        monkeypatch.setattr(power, "gate", self._gate)
        monkeypatch.setattr(observe, "wait_healthy", self._probe)

    def host(
        self, spec: str, state: HostState | None, *, up: bool, running: Iterable[str] = ()
    ) -> PoweredHost:
        host = PoweredHost(spec, up=up, running=running)
        target = Target(spec, host, HostPaths(str(self.root / spec)), "python3")
        if state is not None:
            host.files[target.paths.state] = dumps(state).encode()
        # Caddy keeps routing to the colour it last routed to, through a stop and a start.
        host.files[target.proxy("web").upstream_path] = b"127.0.0.1:8100\n"
        self.hosts[spec], self.targets = host, [*self.targets, target]
        return host

    def state(self, spec: str) -> HostState:
        target = next(t for t in self.targets if t.spec == spec)
        return loads(self.hosts[spec].files[target.paths.state].decode(), where=spec)

    def run(self, action: power.Action, **options: Any) -> PowerResult:
        return power.power(self.project, "production", action, emit=self.events.append, **options)

    def record(self, record_id: str | None) -> tuple[str, str]:
        assert record_id is not None
        with HistoryStore.for_project(self.root) as store:
            found = store.get(record_id)
        return found.status, found.message

    def _targets_for(self, *_: Any, **__: Any) -> tuple[list[Target], dict[str, list[str]]]:
        return self.targets, {t.spec: ["backend"] for t in self.targets}

    async def _gate(self, target: Target, program: str, *_: Any) -> HealthResult:
        reason = "3 healthy answers" if self.healthy else "10 failed probes in a row (503)"
        return HealthResult(self.healthy, reason, ())

    async def _probe(self, url: str, **_: Any) -> HealthResult:
        return HealthResult(self.healthy, "answers", ())


@pytest.fixture
def rig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Rig:
    return Rig(tmp_path, monkeypatch)


ALL = ("web-blue", "worker-blue", "beat-blue")


def test_stop_shuts_every_host_down_and_records_when(rig: Rig) -> None:
    for spec in HOSTS:
        rig.host(spec, SERVING, up=True, running=ALL)
    result = rig.run("stop")
    said = "stopped beat-blue, web-blue, worker-blue and supervisord"
    assert (result.done, result.failed) == ({h: said for h in HOSTS}, {})
    for spec in HOSTS:
        assert not rig.hosts[spec].up
        assert rig.state(spec).stopped_at is not None
        assert rig.state(spec).release == "r1"  # what it serves once started is kept
    assert rig.record(result.record_id) == (
        "succeeded",
        "production stopped on 2 host(s): deploy@app-1, deploy@app-2",
    )
    assert [(e.host, e.status, e.message) for e in rig.events if e.status == "start"] == [
        ("deploy@app-1", "start", "stopping deploy@app-1"),
        ("deploy@app-2", "start", "stopping deploy@app-2"),
    ]


def test_stop_of_a_host_already_down_says_so_and_one_never_deployed_gets_no_state(
    rig: Rig,
) -> None:
    rig.host(HOSTS[0], SERVING, up=False)
    fresh = rig.host(HOSTS[1], None, up=True)
    result = rig.run("stop")
    assert result.done == {
        HOSTS[0]: "down already: supervisord was not running",
        HOSTS[1]: "stopped no programs and supervisord",
    }
    assert rig.state(HOSTS[0]).stopped_at is not None
    assert not any(path.endswith("state.json") for path in fresh.files)


def test_a_dry_run_says_what_would_stop_and_changes_and_records_nothing(rig: Rig) -> None:
    host = rig.host(HOSTS[0], SERVING, up=True, running=["web-blue", "worker-blue"])
    result = rig.run("stop", dry_run=True)
    assert result.done == {HOSTS[0]: "would stop web-blue, worker-blue and supervisord"}
    assert result.record_id is None
    assert host.up and rig.state(HOSTS[0]).stopped_at is None
    assert not (rig.root / ".conveyor").exists()  # no history record either


def test_start_boots_supervisord_starts_the_live_colour_and_reads_the_host_back(
    rig: Rig,
) -> None:
    stopped = HostState(**{**SERVING.__dict__, "stopped_at": 5.0})
    for spec in HOSTS:
        rig.host(spec, stopped, up=False)
    result = rig.run("start")
    assert result.failed == {}
    assert result.done == {h: "up: serves 1.0 on blue" for h in HOSTS}
    # The singleton runs on the first host only, as a deploy left it.
    assert rig.hosts[HOSTS[0]].running == set(ALL)
    assert rig.hosts[HOSTS[1]].running == {"web-blue", "worker-blue"}
    for spec in HOSTS:
        assert rig.hosts[spec].up
        assert rig.state(spec).stopped_at is None
    runs = [e.message for e in rig.events if e.host == HOSTS[0] and e.step == "start"]
    assert "web-blue runs r1" in runs and "beat-blue runs r1" in runs
    assert rig.record(result.record_id) == (
        "succeeded",
        "production started on 2 host(s): deploy@app-1, deploy@app-2",
    )


def test_start_on_a_host_never_deployed_to_fails_there_and_the_others_start(
    rig: Rig,
) -> None:
    rig.host(HOSTS[0], SERVING, up=False)
    rig.host(HOSTS[1], None, up=False)
    result = rig.run("start")
    assert result.done == {HOSTS[0]: "up: serves 1.0 on blue"}
    assert result.failed == {HOSTS[1]: "nothing was deployed here, so there is nothing to start"}
    assert rig.record(result.record_id) == (
        "failed",
        "production started on 1 host(s): deploy@app-1; failed on deploy@app-2",
    )
    fails = [e for e in rig.events if e.status == "fail"]
    assert [(e.host, e.message) for e in fails] == [
        (HOSTS[1], "nothing was deployed here, so there is nothing to start")
    ]


def test_a_web_colour_that_does_not_come_up_healthy_fails_its_host(rig: Rig) -> None:
    rig.host(HOSTS[0], HostState(**{**SERVING.__dict__, "stopped_at": 5.0}), up=False)
    rig.healthy = False
    result = rig.run("start")
    assert result.failed == {HOSTS[0]: "web-blue is not healthy: 10 failed probes in a row (503)"}
    # Its state still says it was stopped (status shows it so), until a start succeeds.
    assert rig.state(HOSTS[0]).stopped_at == 5.0
    assert rig.record(result.record_id)[0] == "failed"


def test_a_dry_run_of_start_names_what_would_start(rig: Rig) -> None:
    host = rig.host(HOSTS[0], SERVING, up=False)
    result = rig.run("start", dry_run=True)
    assert result.done[HOSTS[0]].startswith("would start supervisord, web-blue, worker-blue")
    assert result.done[HOSTS[0]].endswith(" (r1) and Caddy")
    assert not host.up and host.running == set()


def test_the_dry_run_of_start_names_every_program_the_start_starts(rig: Rig) -> None:
    rig.host(HOSTS[0], SERVING, up=False)
    result = rig.run("start", dry_run=True)
    assert result.done == {
        HOSTS[0]: "would start supervisord, web-blue, worker-blue, beat-blue (r1) and Caddy"
    }


def hold_lock(rig: Rig, spec: str) -> None:
    target = next(t for t in rig.targets if t.spec == spec)
    owner = LockOwner("d-other", "bob", "ci", 1, 1_795_000_000.0)
    asyncio.run(acquire(target.conn, target.paths.app_dir, owner, environment="production"))


def test_a_held_lock_stops_the_run_before_any_host_changes_and_is_recorded(
    rig: Rig,
) -> None:
    for spec in HOSTS:
        rig.host(spec, SERVING, up=True, running=ALL)
    hold_lock(rig, HOSTS[1])
    with pytest.raises(LockHeld, match=r"^production is locked on deploy@app-2 by bob on ci"):
        rig.run("stop")
    assert all(rig.hosts[h].up for h in HOSTS)
    with HistoryStore.for_project(rig.root) as store:
        [record] = store.deploys("production")
    assert record.status == "failed"
    assert record.message.startswith("stop failed: production is locked on deploy@app-2 by bob")
    # The lock power took on app-1 was given back: a second stop, once bob is gone, may run.
    assert not Path(rig.targets[0].paths.app_dir, "deploy.lock").exists()


def test_a_dry_run_names_a_held_lock_and_says_nothing_was_stopped(rig: Rig) -> None:
    rig.host(HOSTS[0], SERVING, up=True, running=ALL)
    hold_lock(rig, HOSTS[0])
    with pytest.raises(LockHeld) as raised:
        rig.run("stop", dry_run=True)
    assert raised.value.message.startswith("production is locked on deploy@app-1 by bob on ci")
    assert raised.value.message.endswith("; nothing was stopped (dry run)")
    assert raised.value.hint == "conveyor status production shows who holds it"


def test_a_dry_run_of_start_held_by_a_lock_says_nothing_was_started(rig: Rig) -> None:
    rig.host(HOSTS[0], SERVING, up=False)
    hold_lock(rig, HOSTS[0])
    with pytest.raises(LockHeld) as raised:
        rig.run("start", dry_run=True)
    assert raised.value.message.endswith("; nothing was started (dry run)")


def test_the_summary_names_the_hosts_done_and_those_that_failed() -> None:
    both = PowerResult("stop", "d-1", {"b": "x", "a": "x"}, {"c": "unreachable"})
    assert summary("staging", both) == "staging stopped on 2 host(s): a, b; failed on c"
    none = PowerResult("start", "d-1", {}, {"a": "why"})
    assert summary("staging", none) == "staging started on 0 host(s); failed on a"
