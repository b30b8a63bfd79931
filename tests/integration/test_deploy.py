"""Deploys with real parts: supervisord, Caddy, a git project, and (for SSH) a real sshd.

Every story runs a steady load through Caddy and asserts what a user would
see: zero failed requests, the old version serving throughout a bad deploy,
and a history that tells the truth.
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from conveyor.demo.load import Load
from conveyor.deploy.run import deploy, plan_deploy
from conveyor.history.models import OutboxRow
from conveyor.history.store import HistoryStore
from conveyor.notify.outbox import report
from conveyor.project.load import load_project
from tests.conftest import Result
from tests.integration.deployed import DeployProject
from tests.integration.sshd import Sshd
from tests.unit.notify.receiver import receiving


def programs(project: DeployProject) -> dict[str, str]:
    """Program states on the (only) host, from `conveyor status --json`."""
    result = project.run("status", "staging", *project.ssh_args, "--json")
    assert result.code == 0, result.err
    states: dict[str, str] = json.loads(result.out)[0]["programs"]
    return states


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def rev_parse(root: Path, ref: str) -> str:
    done = subprocess.run(["git", "rev-parse", ref], cwd=root, check=True, capture_output=True)
    return done.stdout.decode().strip()


def history(project: DeployProject) -> list[tuple[str, str]]:
    with HistoryStore.for_project(project.root) as store:
        return [(r.kind, r.status) for r in store.deploys("staging")]


def test_deploy_redeploy_and_warm_rollback_without_a_failed_request(local: DeployProject) -> None:
    first = local.deploy()
    assert first.code == 0, first.out + first.err
    assert "deployed: staging now runs 0.0.0+1.g" in first.out
    served = local.get()
    assert served["color"] == "blue"
    assert served["greeting"] == "hello staging"  # the environment's values reach the app
    assert "Zx8kq2LmP0vR7tY3wQ9nB4cH6jF1sD5g" not in first.out + first.err

    local.commit("ok")
    with Load(local.url) as load:
        second = local.deploy()
    assert second.code == 0, second.out + second.err
    assert load.failed == []
    assert load.ok > 20
    assert local.get()["color"] == "green"
    assert local.get()["version"].startswith("0.0.0+2.g")
    assert load.versions[0].startswith("0.0.0+1.g") and load.versions[-1].startswith("0.0.0+2.g")

    planned = local.run("rollback", "staging", "--dry-run")
    assert planned.code == 0, planned.out + planned.err
    assert "plan: roll staging back to 0.0.0+1.g" in planned.out
    assert "(warm: nothing to start)" in planned.out
    assert local.get()["color"] == "green"  # the dry run changed nothing
    with Load(local.url) as load:
        back = local.run("rollback", "staging")
    assert back.code == 0, back.out + back.err
    assert "switched to the warm blue colour" in back.out
    assert load.failed == []
    assert local.get()["color"] == "blue"
    assert history(local) == [
        ("rollback", "succeeded"),
        ("deploy", "succeeded"),
        ("deploy", "succeeded"),
    ]
    # Each deploy recorded the commits it brought: the first its own, the second the new one.
    with HistoryStore.for_project(local.root) as store:
        rollback_id, second_id, first_id = (r.id for r in store.deploys("staging"))
        brought = store.changes([rollback_id, second_id, first_id])
    head, before = (rev_parse(local.root, ref) for ref in ("HEAD", "HEAD~1"))
    ids = (rollback_id, second_id, first_id)
    assert {i: [c.sha for c in brought.get(i, [])] for i in ids} == {
        rollback_id: [],
        second_id: [head],
        first_id: [before],
    }
    assert brought[second_id][0].author == "Test <test@example.com>"

    assert programs(local)["web-blue"] == "running"
    assert programs(local)["web-green"] == "running"  # warm, for a rollback
    # ... and, like after a deploy, only for keep_previous_warm: then it stops.
    assert "keep web-green warm for" in planned.out
    assert "green stays warm for" in back.out
    assert programs(local)["retire-green"] == "running"


def test_a_release_whose_health_fails_never_takes_traffic(local: DeployProject) -> None:
    assert local.deploy().code == 0
    local.commit("500")
    with Load(local.url) as load:
        bad = local.deploy("--hotfix")
    assert bad.code == 1
    assert load.failed == []
    assert set(v[:9] for v in load.versions) == {"0.0.0+1.g"}
    assert "web-green on localhost is not healthy" in bad.err or "not healthy" in bad.err
    assert "traffic never left the release that was serving" in bad.err
    assert "probes:" in bad.err and " 500 " in bad.err
    assert local.get()["color"] == "blue"
    assert history(local)[0] == ("deploy", "failed")
    with HistoryStore.for_project(local.root) as store:
        record, first = store.deploys("staging")
    assert record.cause is not None and "500" in record.cause
    assert record.hotfix and not first.hotfix  # --hotfix is recorded, failed or not


def test_a_release_that_crashes_on_start_is_reported_with_its_log(local: DeployProject) -> None:
    assert local.deploy().code == 0
    local.commit("crash")
    with Load(local.url) as load:
        bad = local.deploy()
    assert bad.code == 1
    assert load.failed == []
    # Within supervisor's startsecs, told as the start gate tells a later crash.
    assert "web-green exited (exit status 1)" in bad.err
    assert "during its start gate on local" in bad.err
    assert "crashing on purpose at start" in bad.err  # the tail of the process's own log
    assert local.get()["color"] == "blue"


def test_the_new_colours_port_already_taken(local: DeployProject) -> None:
    assert local.deploy().code == 0
    local.commit("ok")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", local.port + 1))
        squatter.listen()
        with Load(local.url) as load:
            bad = local.deploy()
    assert bad.code == 1
    assert load.failed == []
    assert "Address already in use" in bad.err
    assert local.get()["color"] == "blue"


def test_a_deploy_tells_its_start_and_its_end_once_each(local: DeployProject) -> None:
    """Issue 14: each record enqueues its message in its own transaction, and the command
    sends them on its way out; the hook's path, a secret, comes from .env.staging."""
    secret = "hook-Qm3vX8kq2LmP0vR7tY3w"
    with receiving() as receiver:
        with (local.root / "conveyor.toml").open("a") as toml:
            toml.write(
                f'\n[notify]\ntargets = ["json://127.0.0.1:{receiver.port}/$HOOK"]\n'
                'on = ["started", "succeeded"]\n'
            )
        env = local.root / ".env.staging"
        env.write_text(env.read_text() + f"HOOK={secret}\n")
        local.commit("ok")
        result = local.deploy()
        assert result.code == 0, result.out + result.err
        assert "notifications: 2 sent" in result.err
        with HistoryStore.for_project(local.root) as store:
            record = store.deploys("staging")[0]
            with store.transaction() as session:
                assert report(session).sent == 2
                written = session.scalars(select(OutboxRow.created_at).order_by(OutboxRow.id))
                # Written by the transactions that started and finished the record.
                assert list(written) == [record.started_at, record.finished_at]
        assert receiver.keys_in_order() == [f"{record.id}:1", f"{record.id}:2"]
        started, succeeded = receiver.received
        assert started.title == f"staging: deploying {record.version}"
        assert succeeded.title == f"staging: {record.version} deployed"
        assert f"by: {record.user}@{record.machine}\n" in succeeded.message
        assert started.path == succeeded.path == f"/{secret}"
        assert secret not in result.out + result.err


def test_a_second_deploy_while_one_holds_the_lock(local: DeployProject) -> None:
    assert local.deploy().code == 0
    lock = Path(local.hosts_dir, "localhost", "deploy.lock")
    lock.mkdir()
    (lock / "owner.json").write_text(
        '{"deploy_id": "d-1", "user": "alice", "machine": "laptop", "pid": 1, "since": 0}'
    )
    held = local.deploy()
    assert held.code == 1
    assert "staging is locked on local by alice on laptop (pid 1)" in held.err
    assert "conveyor unlock staging" in held.err
    # Its heartbeat is fresh: unlock refuses to break it unless told that process is gone.
    refused = local.run("unlock", "staging")
    assert refused.code == 1
    assert "--force" in refused.err
    unlocked = local.run("unlock", "staging", "--force")
    assert "lock held by alice on laptop" in unlocked.out
    assert local.deploy().code == 0


def test_bad_configuration_is_refused_before_any_host_is_touched(local: DeployProject) -> None:
    (local.root / ".env.staging").write_text("GREETING=hi\nAPI_TOKEN=changeme\n")
    result = local.deploy()
    assert result.code == 1
    assert "nothing was deployed" in result.err
    assert "run: conveyor config check staging" in result.err
    assert not Path(local.hosts_dir, "localhost", "releases").exists()


def test_deploy_over_ssh(make_deploy_project: Callable[..., DeployProject], sshd: Sshd) -> None:
    args = ("--known-hosts", str(sshd.known_hosts), "--identity", str(sshd.identity))
    project = make_deploy_project(hosts=[sshd.spec], ssh_args=args)
    project.app_dir(sshd.host)
    result = project.deploy()
    assert result.code == 0, result.out + result.err
    assert project.get()["color"] == "blue"
    project.commit("500")
    with Load(project.url) as load:
        bad = project.deploy()
    assert bad.code == 1
    assert load.failed == []
    assert project.get()["color"] == "blue"


def test_unreachable_or_unknown_hosts_touch_nothing(
    make_deploy_project: Callable[..., DeployProject], sshd: Sshd, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    unknown = make_deploy_project(
        hosts=[sshd.spec], ssh_args=("--known-hosts", str(empty), "--identity", str(sshd.identity))
    )
    refused = unknown.deploy()
    assert refused.code == 1
    assert "SHA256:" in refused.err
    assert "ssh-keyscan" in refused.err
    assert history(unknown) == [("deploy", "failed")]

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    gone = make_deploy_project(
        hosts=[f"root@127.0.0.1:{port}"],
        ssh_args=("--known-hosts", str(sshd.known_hosts), "--identity", str(sshd.identity)),
    )
    unreachable = gone.deploy()
    assert unreachable.code == 1
    assert f"127.0.0.1:{port}" in unreachable.err
    assert not any(gone.hosts_dir.iterdir())


def test_the_executor_follows_the_dry_run_plan(local: DeployProject) -> None:
    """`--dry-run` prints the plan; the deploy then does those steps, in that order."""
    project = load_project(local.root)
    plan = plan_deploy(project, "staging")
    dry = local.run("deploy", "staging", "--dry-run")
    assert dry.code == 0
    assert dry.out.strip() == plan.render()
    assert "Zx8kq2LmP0vR7tY3wQ9nB4cH6jF1sD5g" not in dry.out
    assert not list(local.hosts_dir.glob("*/releases"))  # nothing was touched

    for attempt in range(2):  # a first deploy, then one that replaces a live colour
        planned = plan_deploy(project, "staging", watch=0)
        _, outcome = deploy(project, "staging", watch=0)
        assert outcome.status == "succeeded", outcome.message
        # The deploy ran the plan the dry run printed: planned from the same states by the
        # same function, and every step with an operation carried out, each host's in order.
        assert outcome.plan is not None
        assert outcome.plan.steps == planned.steps, f"attempt {attempt}"
        for host in {s.host for s in planned.steps if s.op is not None}:
            expected = [s for s in planned.steps if s.host == host and s.op is not None]
            assert [s for s in outcome.ran if s.host == host] == expected, f"{attempt}, {host}"
        local.commit("ok")


def test_a_release_that_goes_bad_after_the_switch_is_rolled_back_by_the_watch(
    local: DeployProject,
) -> None:
    assert local.deploy().code == 0
    local.commit("breakable")
    outcome: list[Result] = []
    with Load(local.url) as load:
        deploying = threading.Thread(target=lambda: outcome.append(local.deploy("--watch", "20")))
        deploying.start()
        # Once the host records the new release as live (after its verification through
        # Caddy), the release goes bad, as if something it needs went away.
        state = local.hosts_dir / "localhost" / "state.json"
        deadline = time.monotonic() + 60
        while '"release": "0.0.0_2.' not in _read(state) and time.monotonic() < deadline:
            time.sleep(0.05)
        (local.hosts_dir / "localhost" / "shared" / "BROKEN").touch()
        deploying.join(timeout=60)
    bad = outcome[0]
    assert bad.code == 1
    assert "watch on local is not healthy: 3 failed probes in a row" in bad.err
    assert "traffic is back on 0.0.0_1.g" in bad.err
    assert local.get()["color"] == "blue"
    assert history(local)[0] == ("deploy", "rolled_back")
    # Requests failed only while the watch counted: traffic was back within 2 s.
    assert load.failed
    assert load.failed_times[-1] - load.failed_times[0] < 2.0
    assert load.versions[-1].startswith("0.0.0+1.g")


def test_the_old_colour_stays_warm_for_its_time_then_stops(
    make_deploy_project: Callable[..., DeployProject],
) -> None:
    project = make_deploy_project(keep_warm="3s")
    project.app_dir("localhost")
    assert project.deploy().code == 0
    project.commit("ok")
    assert project.deploy().code == 0
    assert programs(project)["web-blue"] == "running"
    deadline = time.monotonic() + 30  # the 3 s it stays warm, and slack for a busy machine
    while programs(project)["web-blue"] != "stopped":
        assert time.monotonic() < deadline, programs(project)
        time.sleep(0.2)
    project.commit("ok")
    assert project.deploy().code == 0  # green is now warm, for 3 s
    assert programs(project)["retire-green"] == "running"  # its stop is scheduled
    back = project.run("rollback", "staging")
    assert "switched to the warm green colour" in back.out
    # The scheduled stop of green was called off by the rollback: nothing will stop it.
    assert programs(project)["retire-green"] != "running"
    assert programs(project)["web-green"] == "running"
    assert project.get()["color"] == "green"


def test_redeploying_what_already_serves_does_nothing_unless_values_change(
    local: DeployProject,
) -> None:
    assert local.deploy().code == 0
    again = local.deploy()
    assert again.code == 0
    assert (
        "already runs 0.0.0+1.g" in again.out and "nothing to do (--force redeploys)" in again.out
    )
    assert local.get()["color"] == "blue"
    (local.root / ".env.staging").write_text(
        "GREETING=hello again\nAPI_TOKEN=Zx8kq2LmP0vR7tY3wQ9nB4cH6jF1sD5g\n"
    )
    changed = local.deploy()
    assert changed.code == 0 and "nothing to do" not in changed.out
    assert local.get() | {"version": ""} == {
        "version": "",
        "color": "green",
        "greeting": "hello again",
    }
    forced = local.deploy("--force")
    assert forced.code == 0 and "nothing to do" not in forced.out
    assert local.get()["color"] == "blue"


def test_a_sync_service_copies_its_files_runs_after_and_is_put_back_on_failure(
    local: DeployProject, tmp_path: Path
) -> None:
    """Airflow-style DAG sync: files copied into place at the switch, then `after` runs;
    files the sync never wrote are left alone; a failing `after` puts the old files back."""
    dags, marker = tmp_path / "airflow" / "dags", tmp_path / "restarts"
    with (local.root / "conveyor.toml").open("a") as toml:
        toml.write(
            f'\n[services.dags]\nsync = {{ from = "dags", to = "{dags}" }}\n'
            'roles = ["web"]\nafter = "python restart.py"\n'
        )
    restart = f"import pathlib\nwith open({str(marker)!r}, 'a') as f:\n    f.write('restart\\n')\n"
    (local.root / "restart.py").write_text(restart)
    (local.root / "dags").mkdir()
    (local.root / "dags" / "a.py").write_text("A = 1\n")
    (local.root / "dags" / "b.py").write_text("B = 1\n")
    local.commit("ok")
    first = local.deploy()
    assert first.code == 0, first.err
    assert sorted(p.name for p in dags.glob("*.py")) == ["a.py", "b.py"]
    assert marker.read_text() == "restart\n"

    (dags / "by_hand.py").write_text("KEEP = True\n")  # not conveyor's: never removed
    (local.root / "dags" / "b.py").unlink()
    (local.root / "dags" / "a.py").write_text("A = 2\n")
    (local.root / "dags" / "c.py").write_text("C = 1\n")
    local.commit("ok")
    second = local.deploy()
    assert second.code == 0, second.err
    assert sorted(p.name for p in dags.glob("*.py")) == ["a.py", "by_hand.py", "c.py"]
    assert (dags / "a.py").read_text() == "A = 2\n"
    assert marker.read_text() == "restart\n" * 2

    # A release that adds a sync service whose `after` fails: the deploy goes back, with the
    # previous release's files (and its `after` run again), and the new service's files gone.
    reports = tmp_path / "reports"
    with (local.root / "conveyor.toml").open("a") as toml:
        toml.write(
            f'\n[services.reports]\nsync = {{ from = "reports", to = "{reports}" }}\n'
            'roles = ["web"]\nafter = "python fail.py"\n'
        )
    (local.root / "fail.py").write_text("raise SystemExit('reports would not load')\n")
    (local.root / "reports").mkdir()
    (local.root / "reports" / "daily.sql").write_text("SELECT 1;\n")
    (local.root / "dags" / "a.py").write_text("A = 3\n")
    local.commit("ok")
    third = local.deploy()
    assert third.code == 1
    assert "python fail.py failed on local" in third.err
    assert "not put back" not in third.err  # every step of the undo worked
    assert (dags / "a.py").read_text() == "A = 2\n"
    assert not (reports / "daily.sql").exists()
    # dags: this release's `after`, then the old release's again; reports: none to put back.
    assert marker.read_text() == "restart\n" * 4
    assert local.get()["color"] == "green"  # the second release still serves
    assert history(local)[0] == ("deploy", "rolled_back")
    state = json.loads((local.hosts_dir / "localhost" / "state.json").read_text())
    assert state["pending_release"] is None
    assert state["colour"] == "green"
    # A rollback puts the previous release's files back too, and runs its `after`.
    rolled = local.run("rollback", "staging")
    assert rolled.code == 0, rolled.err
    assert sorted(p.name for p in dags.glob("*.py")) == ["a.py", "b.py", "by_hand.py"]
    assert (dags / "a.py").read_text() == "A = 1\n"
    assert marker.read_text() == "restart\n" * 5
    assert local.get()["color"] == "blue"
