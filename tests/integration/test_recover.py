"""conveyor killed mid-deploy, then `conveyor recover`: real supervisord, Caddy, and a real SIGKILL.

The deploy runs as its own process; the test reads its output line by line
(`host  step  message`) and kills it with SIGKILL at a chosen step, under a
steady load through Caddy. Recovery must leave one release serving, nothing
pending, no lock, zero failed requests, and a history that tells the truth.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from conveyor.demo.load import Load
from conveyor.deploy.recover import RECORD_KIND
from conveyor.history.store import HistoryStore
from tests.integration import test_deploy
from tests.integration.deployed import DeployProject
from tests.integration.test_deploy import programs

# The deploy tests' fixtures: the tools venv, the tiny project, a local host.
tools = test_deploy.tools
make_deploy_project = test_deploy.make_deploy_project
local = test_deploy.local


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


def wait_for(process: subprocess.Popen[str], host: str, step: str) -> list[str]:
    """Read the deploy's output until a line for `host` and `step`; returns what it printed."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line.rstrip())
        parts = line.split()
        if len(parts) >= 2 and parts[0] == host and parts[1] == step:
            return seen
    raise AssertionError(f"the deploy ended before {host} {step}:\n" + "\n".join(seen))


def state(project: DeployProject) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (project.hosts_dir / "localhost" / "state.json").read_text()
    )
    return data


@pytest.mark.parametrize(
    ("host", "step", "direction", "serves"),
    [
        ("local", "health", "went back", "0.0.0+1.g"),  # new colour gated, nothing switched
        ("local", "switch", "went back", "0.0.0+1.g"),  # Caddy switched, state still pending
        ("*", "watch", "finished it forward", "0.0.0+2.g"),  # every host switched
    ],
)
def test_a_deploy_killed_at_a_step_is_recovered_to_one_release(
    local: DeployProject, host: str, step: str, direction: str, serves: str
) -> None:
    assert local.deploy().code == 0
    local.commit("ok")
    with Load(local.url) as load:
        with deploying(local) as process:
            wait_for(process, host, step)
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
    assert interrupted.message.startswith("interrupted: conveyor stopped during ")
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
