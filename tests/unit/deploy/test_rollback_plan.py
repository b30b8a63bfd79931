"""The rollback's plan from data: host states in, steps out (no host needed)."""

from __future__ import annotations

from conveyor.deploy.rollback_plan import BackView, build_rollback_plan
from conveyor.deploy.serve import BEFORE, DURING, Serve, host_steps
from conveyor.deploy.state import HostState
from tests.unit.deploy.test_plan import config

ROLES = {"deploy@app-1": ["backend"], "deploy@app-2": ["backend"], "deploy@sched-1": ["scheduler"]}


def deployed(release: str = "r2", previous: str = "r1") -> HostState:
    """A host that serves `release` on green, `previous` behind it on blue."""
    return HostState(
        release=release,
        version="1.2.0",
        colour="green",
        venv="v2",
        previous_release=previous,
        previous_version="1.1.0",
        previous_colour="blue",
        previous_venv="v1",
    )


def test_every_host_gets_ready_before_any_host_switches() -> None:
    hosts = [
        BackView("deploy@app-1", deployed(), {"web": True}),
        BackView("deploy@app-2", deployed(), {"web": False}),
    ]
    plan = build_rollback_plan(config(), "production", ROLES, hosts)
    actions = [(s.host, s.action) for s in plan.steps]
    last_ready = max(i for i, (_, action) in enumerate(actions) if action == "ready")
    first_switch = min(i for i, (_, action) in enumerate(actions) if action == "switch")
    assert last_ready < first_switch
    ready = [s for s in plan.steps if s.action == "ready"]
    assert [s.description for s in ready] == [
        "worker-blue: start on r1 (waited for after the switch)",
        "call off any scheduled stop of the blue colour",
        "web-blue runs r1 (warm: nothing to start)",
        "worker-blue: start on r1 (waited for after the switch)",
        "call off any scheduled stop of the blue colour",
        "web-blue has gone cold: start it on r1, probe /health directly",
    ]
    assert [s.op.kind for s in ready if s.op] == ["spawn", "cancel_retire", "ready"] * 2
    assert all(s.on_failure == BEFORE for s in ready)
    assert plan.render().startswith("plan: roll production back to 1.1.0 on 2 host(s)\n")


def test_a_host_switches_traffic_then_its_workers_then_records_the_release() -> None:
    plan = build_rollback_plan(
        config(), "production", ROLES, [BackView("deploy@app-1", deployed())]
    )
    steps = [s for s in plan.steps if s.host == "deploy@app-1"]
    assert [s.action for s in steps] == [
        "connect", "lock", "ready", "ready", "ready", "state", "switch", "start", "stop", "link",
        "state", "retire", "unlock",
    ]  # fmt: skip
    assert steps[6].description == "Caddy on :80 -> port 9000 (blue)"
    assert steps[7].description == "worker-blue on r1"
    assert steps[8].description == "worker-green: graceful stop"
    assert steps[6].on_failure == DURING
    retire = steps[-2]  # the colour it left stays warm, then stops, as after a deploy
    assert retire.description == "keep web-green warm for 15 min, then stop them"
    assert retire.op is not None and (retire.op.kind, retire.op.colour) == ("retire", "green")
    unlock = steps[-1]  # with the retirement, in one round trip
    assert unlock.op is not None and unlock.op.kind == "unlock" and unlock.phase == retire.phase
    ops = [s.op for s in steps if s.op is not None and s not in (retire, unlock)]
    assert [(o.kind, o.program or o.service) for o in ops] == [
        ("spawn", "worker"), ("cancel_retire", ""), ("ready", "web"), ("mark", ""),
        ("route", "web"), ("start", "worker"), ("stop", "worker-green"), ("link", ""), ("record", ""),
    ]  # fmt: skip
    assert {(o.colour, o.release, o.venv) for o in ops} == {("blue", "r1", "v1")}


def test_putting_a_host_forward_again_is_the_plan_of_what_it_served() -> None:
    """The undo of one host's rollback: the same planner, the other desired state, no mark."""
    state = deployed()
    steps = host_steps(
        config(), ROLES, "deploy@app-1", Serve.current(state), away="blue", mark=False
    )
    assert [s.action for s in steps] == [
        "ready",
        "ready",
        "ready",
        "switch",
        "start",
        "stop",
        "link",
        "state",
    ]
    assert steps[3].description == "Caddy on :80 -> port 9001 (green)"
    assert steps[5].description == "worker-blue: graceful stop"
    assert {(s.op.colour, s.op.release) for s in steps if s.op} == {("green", "r2")}


def test_a_sync_host_puts_the_previous_releases_files_back() -> None:
    plan = build_rollback_plan(
        config(), "production", ROLES, [BackView("deploy@sched-1", deployed())]
    )
    syncs = [s.description for s in plan.steps if s.action == "sync"]
    assert syncs == ["dags: copy dags/ of r1 to /opt/airflow/dags"]
    assert [s.op.service for s in plan.steps if s.action == "sync" and s.op] == ["dags"]
    assert not [s for s in plan.steps if s.action in ("ready", "switch")]  # it serves no web


def test_a_rollback_in_batches_switches_each_batch_after_the_one_before() -> None:
    """Every host gets ready first (nothing switches until all can), then `batch` hosts at
    a time switch, each batch announced; without a batch, every host at once."""
    hosts = [BackView(spec, deployed()) for spec in ("deploy@app-1", "deploy@app-2")]
    plan = build_rollback_plan(config(), "production", ROLES, hosts, batch=1)
    order = [(s.host, s.action) for s in plan.steps if s.phase == "switch"]
    assert order[0] == ("*", "batch") and order.count(("*", "batch")) == 2
    second = order.index(("*", "batch"), 1)
    assert {host for host, _ in order[1:second]} == {"deploy@app-1"}
    assert {host for host, _ in order[second + 1 :]} == {"deploy@app-2"}
    batches = [s.description for s in plan.steps if s.action == "batch"]
    assert batches == ["batch 1 of 2: deploy@app-1", "batch 2 of 2: deploy@app-2"]
    ready = [i for i, s in enumerate(plan.steps) if s.action == "ready"]
    assert max(ready) < min(i for i, s in enumerate(plan.steps) if s.action == "batch")
    at_once = build_rollback_plan(config(), "production", ROLES, hosts)
    assert not [s for s in at_once.steps if s.action == "batch"]
    assert build_rollback_plan(config(), "production", ROLES, hosts, batch=5).steps == (
        at_once.steps
    )
