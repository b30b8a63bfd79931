"""The deploy plan from data: config and host states in, steps out."""

from __future__ import annotations

import sys

import pytest

from conveyor.deploy.layout import HostPaths
from conveyor.deploy.plan import AFTER_SWITCH, BEFORE_SWITCH, HostView, Plan
from conveyor.deploy.planner import build_plan
from conveyor.deploy.state import HostState
from conveyor.project.model import ConveyorConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TOML = """
[app]
name = "shop"
[services.web]
command = "uvicorn shop.main:app --port $PORT"
health = "/health"
roles = ["backend"]
port = 9000
listen = ":80"
[services.worker]
command = "celery -A shop worker"
roles = ["backend"]
[services.dags]
sync = { from = "dags", to = "/opt/airflow/dags" }
roles = ["scheduler"]
[migrations]
run_on = "backend"
[environments.production]
hosts = { backend = ["deploy@app-1", "deploy@app-2"], scheduler = ["deploy@sched-1"] }
"""


def config() -> ConveyorConfig:
    return ConveyorConfig.model_validate(tomllib.loads(TOML))


def view(spec: str, roles: tuple[str, ...], state: HostState | None = None) -> HostView:
    return HostView(spec, HostPaths(f"/srv/shop/{spec.split('@')[1]}"), roles, state or HostState())


def plan(*hosts: HostView, watch: float = 30) -> Plan:
    return build_plan(
        config(),
        "production",
        release="1.2.0",
        hosts=hosts,
        env_keys=7,
        watch=watch,
        release_id="r1",
    )


def actions(result: Plan, host: str) -> list[str]:
    return [step.action for step in result.steps if step.host == host]


def test_first_deploy_starts_blue_and_keeps_nothing_warm() -> None:
    result = plan(view("deploy@app-1", ("backend",)))
    assert actions(result, "deploy@app-1") == [
        "connect", "lock", "prepare", "upload", "env", "venv", "migrate",
        "start", "state", "switch", "health", "link", "state", "unlock",
    ]  # fmt: skip
    starts = [s for s in result.steps if s.action == "start"]
    assert starts[0].description.splitlines() == [
        "web-blue: uvicorn shop.main:app --port 9000",
        "worker-blue: celery -A shop worker",
        "probe web-blue at /health directly",
    ]
    assert starts[0].argv[-2:] == ("web-blue", "worker-blue")  # one start for both
    assert starts[0].op is not None and starts[0].op.kind == "launch"
    switch = next(s for s in result.steps if s.action == "switch")
    assert switch.description == "Caddy on :80 -> port 9000 (blue)"
    assert switch.on_failure == AFTER_SWITCH
    assert starts[0].on_failure == BEFORE_SWITCH
    assert result.steps[-2].description == "probe through Caddy for 30s"
    assert "retire" not in actions(result, "deploy@app-1")  # a first deploy has no old colour


def test_next_deploy_uses_green_stops_old_workers_and_keeps_blue_warm() -> None:
    live = HostState(release="r0", colour="blue")
    result = plan(view("deploy@app-1", ("backend",), live))
    start = next(s for s in result.steps if s.action == "start")
    assert [line.split(":")[0] for line in start.description.splitlines()[:2]] == [
        "web-green",
        "worker-green",
    ]
    stop = next(s for s in result.steps if s.action == "stop")
    assert stop.description == "worker-blue: graceful stop"
    assert stop.op is not None and (stop.op.kind, stop.op.program) == ("stop", "worker-blue")
    assert "Caddy on :80 -> port 9001 (green)" in result.render()
    assert "keep web-blue warm for 15 min, then stop them" in result.render()


def test_hosts_get_only_their_roles_services_and_migrations_run_once() -> None:
    result = plan(
        view("deploy@app-1", ("backend",)),
        view("deploy@app-2", ("backend",)),
        view("deploy@sched-1", ("scheduler",)),
    )
    assert [s.host for s in result.steps if s.action == "migrate"] == ["deploy@app-1"]
    assert "start" not in actions(result, "deploy@sched-1")
    assert actions(result, "deploy@app-2").count("switch") == 1
    # Every host has its new colour up and healthy before any host switches.
    first_switch = next(i for i, s in enumerate(result.steps) if s.action == "switch")
    last_gate = max(i for i, s in enumerate(result.steps) if "directly" in s.description)
    assert last_gate < first_switch
    # Every host is locked before any host is touched.
    first_prepare = next(i for i, s in enumerate(result.steps) if s.action == "prepare")
    assert all(i < first_prepare for i, s in enumerate(result.steps) if s.action == "lock")


def test_the_plan_shows_that_secrets_are_written_never_what() -> None:
    result = plan(view("deploy@app-1", ("backend",)))
    env = next(s for s in result.steps if s.action == "env")
    assert env.secret
    assert env.description == "write /srv/shop/app-1/shared/.env (7 keys, ********, mode 0600)"


def test_no_watch_step_when_the_window_is_zero() -> None:
    assert "watch" not in [
        s.action for s in plan(view("deploy@app-1", ("backend",)), watch=0).steps
    ]


@pytest.mark.parametrize("why", ["connection refused"])
def test_an_unreadable_host_is_planned_as_fresh_and_says_so(why: str) -> None:
    host = HostView("deploy@app-1", HostPaths("/srv/shop"), ("backend",), HostState(), why)
    assert "connect, verify the host key (state unknown: connection refused)" in plan(host).render()


SINGLETON = TOML.replace(
    "[services.dags]",
    '[services.beat]\ncommand = "celery -A shop beat"\nkind = "singleton"\nroles = ["backend"]\n'
    "[services.dags]",
)


def test_a_singleton_runs_on_one_host_and_never_twice_at_once() -> None:
    config = ConveyorConfig.model_validate(tomllib.loads(SINGLETON))
    live = HostState(release="r0", colour="blue")
    result = build_plan(
        config,
        "production",
        release="1.2.0",
        hosts=[view("deploy@app-1", ("backend",), live), view("deploy@app-2", ("backend",), live)],
        env_keys=7,
        watch=0,
    )
    beat = [(s.host, s.action, s.description) for s in result.steps if "beat" in s.description]
    assert beat == [
        ("deploy@app-1", "stop", "beat-blue: stop (a singleton: one at a time)"),
        ("deploy@app-1", "start", "beat-green on <release id> (singleton)"),
    ]
    # ... and after the web switch of that host, not with the other new colours.
    steps = [(s.host, s.action) for s in result.steps]
    assert steps.index(("deploy@app-1", "switch")) < [s.description for s in result.steps].index(
        "beat-green on <release id> (singleton)"
    )


def test_hosts_switch_in_batches_each_verified_before_the_next() -> None:
    hosts = [view(f"deploy@app-{n}", ("backend",)) for n in range(1, 6)]
    result = build_plan(
        config(), "production", release="1.2.0", hosts=hosts, env_keys=7, watch=0, batch="40%"
    )
    batches = [s.description for s in result.steps if s.action == "batch"]
    assert batches == [
        "batch 1 of 3: deploy@app-1, deploy@app-2 (each verified through Caddy before batch 2)"
        "; stops if a lock was lost",
        "batch 2 of 3: deploy@app-3, deploy@app-4 (each verified through Caddy before batch 3)"
        "; stops if a lock was lost",
        "batch 3 of 3: deploy@app-5 (each verified through Caddy); stops if a lock was lost",
    ]
    # Every host's new colour starts and passes its health check before any batch switches.
    actions = [s.action for s in result.steps]
    assert max(i for i, a in enumerate(actions) if a == "start") < actions.index("batch")
    order = [s.host for s in result.steps if s.action == "switch"]
    assert order == [f"deploy@app-{n}" for n in range(1, 6)]


def test_the_plan_says_what_max_failures_allows() -> None:
    hosts = [view("deploy@app-1", ("backend",)), view("deploy@app-2", ("backend",))]
    tolerant = build_plan(
        config(), "production", release="1", hosts=hosts, env_keys=7, watch=0, max_failures=1
    )
    assert "max_failures = 1: up to 1 failing host(s) are put back" in tolerant.render()
    assert "max_failures" not in plan(*hosts).render()


def test_a_limited_deploy_says_what_it_leaves_out() -> None:
    result = build_plan(
        config(),
        "production",
        release="1.2.0",
        hosts=[view("deploy@sched-1", ("scheduler",))],
        env_keys=7,
        watch=0,
        left_out={"deploy@app-1": ["backend"], "deploy@app-2": ["backend"]},
        limit="--role scheduler",
    )
    skipped = [(s.host, s.description) for s in result.steps if s.action == "skip"]
    assert skipped == [
        ("deploy@app-1", "left out by --role scheduler (roles backend): keeps what it runs"),
        ("deploy@app-2", "left out by --role scheduler (roles backend): keeps what it runs"),
    ]
    migrate = [s.description for s in result.steps if s.action == "migrate"]
    assert migrate == ["left out: no host of role backend in this deploy"]


def test_a_sync_service_copies_its_files_then_runs_after_at_the_switch() -> None:
    toml = TOML.replace(
        'sync = { from = "dags", to = "/opt/airflow/dags" }',
        'sync = { from = "dags", to = "/opt/airflow/dags" }\nafter = "airflow-restart --now"',
    )
    synced = ConveyorConfig.model_validate(tomllib.loads(toml))
    result = build_plan(
        synced,
        "production",
        release="1.2.0",
        hosts=[view("deploy@sched-1", ("scheduler",))],
        env_keys=7,
        watch=0,
    )
    steps = [(s.action, s.description, s.on_failure) for s in result.steps]
    copy = "dags: copy dags/ of <release id> to /opt/airflow/dags, then airflow-restart --now"
    assert ("sync", copy, AFTER_SWITCH) in steps


def test_a_script_run_on_the_host_is_shown_by_its_length_not_its_text() -> None:
    shown = plan(view("deploy@app-1", ("backend",))).render()
    start = next(line for line in shown.splitlines() if "supervisor.sock" in line)
    assert "-c '<" in start and "-line script>'" in start
    assert "xmlrpc" not in shown
