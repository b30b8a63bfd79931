"""conveyor killed mid-deploy, then `conveyor recover`: real supervisord, Caddy, and a real SIGKILL.

The deploy runs as its own process; the test reads its output line by line
(`host  step  message`) and kills it with SIGKILL at a chosen step, under a
steady load through Caddy. Recovery must leave one release serving, nothing
pending, no lock, zero failed requests, and a history that tells the truth.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from conveyor.demo.load import Load
from conveyor.deploy.recover import RECORD_KIND
from conveyor.history.store import HistoryStore
from tests.integration.deployed import DeployProject
from tests.integration.test_deploy import programs


@contextmanager
def deploying(project: DeployProject) -> Iterator[subprocess.Popen[str]]:
    """`conveyor deploy staging` as its own process, its output readable line by line."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    argv = [sys.executable, "-m", "conveyor", "-C", str(project.root), "deploy", "staging"]
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def wait_for(process: subprocess.Popen[str], host: str, step: str, text: str = "") -> list[str]:
    """Read the deploy's output until a line for `host` and `step` (that says `text`);
    returns what it printed."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line.rstrip())
        parts = line.split()
        if len(parts) >= 2 and parts[0] == host and parts[1] == step and text in line:
            return seen
    raise AssertionError(f"the deploy ended before {host} {step}:\n" + "\n".join(seen))


def until(condition: Callable[[], bool], deadline: float = 30) -> None:
    """Poll `condition` until it holds (or fail after `deadline` seconds)."""
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, "condition not reached in time"
        time.sleep(0.05)  # a poll interval, not a wait: leave the cores to supervisord


def state(project: DeployProject) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (project.hosts_dir / "localhost" / "state.json").read_text()
    )
    return data


@pytest.mark.parametrize(
    ("host", "step", "text", "direction", "serves"),
    [
        ("local", "health", "", "went back", "0.0.0+1.g"),  # new colour gated, nothing switched
        ("local", "switch", "now routes", "went back", "0.0.0+1.g"),  # Caddy switched, pending
        ("*", "watch", "", "finished it forward", "0.0.0+2.g"),  # every host switched
    ],
)
def test_a_deploy_killed_at_a_step_is_recovered_to_one_release(
    local: DeployProject, host: str, step: str, text: str, direction: str, serves: str
) -> None:
    assert local.deploy().code == 0
    local.commit("ok")
    with Load(local.url) as load:
        with deploying(local) as process:
            wait_for(process, host, step, text)
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert (local.hosts_dir / "localhost" / "deploy.lock").exists()
        told = local.run("status", "staging")
        assert "interrupted deploy d-" in told.err and "conveyor recover staging" in told.err
        recovered = local.run("recover", "staging")
    assert recovered.code == 0, recovered.out + recovered.err
    assert direction in recovered.out
    assert load.failed == []
    assert local.get()["version"].startswith(serves)
    assert state(local)["pending_release"] is None
    assert not (local.hosts_dir / "localhost" / "deploy.lock").exists()
    if direction == "went back":
        assert local.get()["color"] == "blue"
        assert programs(local)["web-green"] != "running"  # the interrupted release is stopped
    with HistoryStore.for_project(local.root) as store:
        recover, interrupted, first = store.deploys("staging")[:3]
    assert (recover.kind, recover.status) == (RECORD_KIND, "succeeded")
    assert direction in recover.message
    assert (interrupted.kind, interrupted.status) == ("deploy", "failed")
    # The step under way, or the last one finished when it died between two.
    assert interrupted.message.startswith(
        ("interrupted: conveyor stopped during ", "interrupted: conveyor stopped after ")
    )
    assert interrupted.message.endswith(f"recovered by {recover.id}")
    assert first.status == "succeeded"
    # Nothing left to recover: a second run says so and changes nothing.
    again = local.run("recover", "staging")
    assert again.code == 0 and "nothing to recover" in again.out


def test_a_running_deploys_lock_is_never_taken_over(local: DeployProject) -> None:
    assert local.deploy().code == 0
    local.commit("ok")
    with deploying(local) as process:
        wait_for(process, "*", "lock")
        refused = local.run("recover", "staging")
        assert refused.code == 1
        assert "has a deploy running" in refused.err and "nothing was changed" in refused.err
        not_broken = local.run("unlock", "staging")
        assert not_broken.code == 1 and "no lock was broken" in not_broken.err
        shown = local.run("status", "staging")
        assert "local: locked by " in shown.out
        assert process.stdout is not None
        rest = process.stdout.read()
        assert process.wait() == 0, rest
    assert local.get()["version"].startswith("0.0.0+2.g")


def test_a_limited_deploy_leaves_an_interrupted_deploy_to_recover(
    make_deploy_project: Callable[..., DeployProject],
) -> None:
    """`deploy --host` sees only part of the environment: it refuses to guess what an
    interrupted deploy did elsewhere and sends the user to `conveyor recover`.

    The second host is never contacted (it is left out), so it need not exist."""
    project = make_deploy_project(hosts=["local", "deploy@127.0.0.1:1"])
    project.app_dir("localhost")
    lock = project.hosts_dir / "localhost" / "deploy.lock"
    lock.mkdir(parents=True)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    owner = {"deploy_id": "d-1", "user": "alice", "machine": socket.gethostname(),
             "pid": int(dead), "since": 0}  # fmt: skip
    (lock / "owner.json").write_text(json.dumps(owner))
    refused = project.deploy("--host", "local")
    assert refused.code == 1, refused.out
    assert "interrupted deploy d-1" in refused.err
    assert "nothing was deployed" in refused.err
    assert "conveyor recover staging (it looks at every host)" in refused.err
    assert lock.exists()  # nothing taken over


def test_a_recovery_that_cannot_finish_says_what_the_host_shows_and_exits_non_zero(
    local: DeployProject,
) -> None:
    """Killed after the switch and the old worker's stop; the old worker then cannot start.

    Traffic still goes back to the old web colour, the report is read back from the host
    (never "went back; local serves ..." while something is down), the pending mark stays
    so that a second `recover` finds the host, and once the cause is gone it finishes."""
    # The old worker ignores its stop signal: its drain (2 s) is under way when conveyor dies.
    (local.app_dir("localhost") / "shared").mkdir(parents=True, exist_ok=True)
    (local.hosts_dir / "localhost" / "shared" / "IGNORE_TERM").touch()
    assert local.deploy().code == 0
    local.commit("ok")
    with deploying(local) as process:
        wait_for(process, "local", "stop", "stopping worker-blue")  # switched, still pending
        until(lambda: programs(local)["worker-blue"] == "stopping")
        process.send_signal(signal.SIGKILL)
        process.wait()
    until(lambda: programs(local)["worker-blue"] == "stopped")  # supervisord killed it
    (local.hosts_dir / "localhost" / "shared" / "IGNORE_TERM").unlink()
    crash = local.hosts_dir / "localhost" / "shared" / "CRASH_WORKER"
    crash.touch()
    with Load(local.url) as load:
        stuck = local.run("recover", "staging")
    assert stuck.code == 1, stuck.out + stuck.err
    assert "recovery incomplete: staging from interrupted deploy d-" in stuck.err
    # Said as a deploy's start gate says it: how it ended, and its log tail.
    assert re.search(
        r"local: worker: worker-blue exited .*during its start gate on local", stuck.err
    )
    assert "state.json still records a pending switch to 0.0.0_2.g" in stuck.err
    assert "read back: local serves 0.0.0_1.g" in stuck.err
    assert "went back; local serves" not in stuck.out + stuck.err
    assert "left to do on local: fix what is named above" in stuck.err
    assert load.failed == []
    assert local.get()["version"].startswith("0.0.0+1.g")  # traffic is back all the same
    assert state(local)["pending_release"] is not None
    assert programs(local)["worker-green"] != "running"  # nothing of the interrupted release
    again = local.run("recover", "staging")
    assert again.code == 1 and "recovery incomplete" in again.err  # still there, still said

    crash.unlink()
    fixed = local.run("recover", "staging")
    assert fixed.code == 0, fixed.out + fixed.err
    assert "went back; local serves 0.0.0_1.g" in fixed.out
    assert "local                 recover  serves 0.0.0_1.g" in fixed.out
    assert state(local)["pending_release"] is None
    assert programs(local)["worker-blue"] == "running"
    assert local.run("recover", "staging").out.startswith("nothing to recover")
    with HistoryStore.for_project(local.root) as store:
        recovered, failed, failed_again, interrupted = store.deploys("staging")[:4]
    assert [r.status for r in (recovered, failed, failed_again)] == [
        "succeeded",
        "failed",
        "failed",
    ]
    # The deploy's own record names the step that was running, not the one before it.
    assert interrupted.message == (
        f"interrupted: conveyor stopped during stop on local; recovered by {recovered.id}"
    )


def test_a_deploy_after_one_killed_mid_switch_puts_it_right_first_then_deploys(
    local: DeployProject,
) -> None:
    """The deploy's own locks read the hosts' states; the pending mark the killed deploy left
    sends it to recovery first (its locks given back, recovery's taken), then it deploys."""
    assert local.deploy().code == 0
    local.commit("ok")
    with Load(local.url) as load:
        with deploying(local) as process:
            wait_for(process, "local", "switch", "now routes")
            process.send_signal(signal.SIGKILL)
            process.wait()
        assert state(local)["pending_release"] is not None
        again = local.deploy()
    assert again.code == 0, again.out + again.err
    said = again.out + again.err
    assert re.search(r"interrupted deploy d-\S+ .*went back", said, re.S), said
    assert "deployed: staging now runs 0.0.0+2.g" in said
    assert load.failed == []
    assert local.get()["version"].startswith("0.0.0+2.g")
    assert state(local)["pending_release"] is None
    assert not (local.hosts_dir / "localhost" / "deploy.lock").exists()
    with HistoryStore.for_project(local.root) as store:
        # Newest first: the recovery began after the deploy that ran it.
        recover, deployed, interrupted = store.deploys("staging")[:3]
    assert (deployed.kind, deployed.status) == ("deploy", "succeeded")
    assert (recover.kind, recover.status) == (RECORD_KIND, "succeeded")
    assert (interrupted.kind, interrupted.status) == ("deploy", "failed")


def test_a_deploy_meeting_a_stale_lock_recovers_first_then_deploys(local: DeployProject) -> None:
    """A lock whose deploy's process is gone (no state left pending) is taken over by the
    recovery a deploy runs first; the deploy then takes the lock itself."""
    assert local.deploy().code == 0
    lock = local.hosts_dir / "localhost" / "deploy.lock"
    lock.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    owner = {"deploy_id": "d-gone", "user": "alice", "machine": socket.gethostname(),
             "pid": int(dead), "since": 0}  # fmt: skip
    (lock / "owner.json").write_text(json.dumps(owner))
    local.commit("ok")
    again = local.deploy()
    assert again.code == 0, again.out + again.err
    assert "interrupted deploy d-gone" in again.out + again.err
    assert local.get()["version"].startswith("0.0.0+2.g")
    assert not lock.exists()
