"""What a person sees, through a real local deploy (supervisord, Caddy): durations on step
lines, one summary line per command, a status table of the user's services that fits 80
columns, `stop` and `start`, and a failure told once where it happened and once in the
summary."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable

import httpx
import pytest

from conveyor.history.store import HistoryStore
from tests.integration.deployed import GIT, DeployProject
from tests.integration.sshd import Sshd

SUMMARY = re.compile(r"in (\d+\.\ds|\d+m\d\ds) \((deploy|recorded as) d-[0-9a-f-]+\)$")


def kinds(project: DeployProject) -> list[tuple[str, str]]:
    with HistoryStore.for_project(project.root) as store:
        return [(r.kind, r.status) for r in store.deploys("staging")]


def test_deploy_status_stop_start_and_a_failure_as_a_person_reads_them(
    local: DeployProject,
) -> None:
    first = local.deploy()
    assert first.code == 0, first.out + first.err
    lines = first.out.splitlines()
    assert re.fullmatch(r"local +venv +built \((\d+\.\ds|\d+m\d\ds)\)", lines[lines.index(
        next(line for line in lines if " venv " in line and "built" in line))])  # fmt: skip
    assert "local                 start    starting worker-blue" in lines  # a worker has no port
    assert any(re.fullmatch(r"local +start +starting web-blue on port \d+", ln) for ln in lines)
    assert "healthy answers" not in first.out.replace("2 healthy answers", "")
    assert lines[-1].startswith("deployed: staging now runs 0.0.0+1.g")
    assert SUMMARY.search(lines[-1]), lines[-1]
    assert not [ln for ln in lines if "* " in ln[:2] and " deploy " in ln]  # told once, at the end

    status = local.run("status", "staging")
    assert status.code == 0, status.err
    table = status.out.splitlines()
    assert max(len(line) for line in table) <= 80
    assert [cell.strip() for cell in table[1].split("┃")[1:-1]] == [
        "host", "release", "colour", "previous", "switched", "health", "services"
    ]  # fmt: skip
    row = [cell.strip() for cell in table[3].split("│")[1:-1]]
    assert row[0] == "local" and row[1].startswith("0.0.0+1.g") and row[2] == "blue"
    assert row[5:] == ["up", "web, worker"]
    assert "retire" not in status.out and "caddy" not in status.out

    dry = local.run("stop", "staging", "--dry-run")
    assert dry.code == 0, dry.err
    said = dry.out.splitlines()
    assert said[0] == "local                 stop     stopping local"
    assert re.fullmatch(
        r"local +stop +would stop caddy, web-blue, worker-blue and supervisord \((\d+\.\ds|\d+m\d\ds)\)",
        said[1],
    )
    assert said[2:] == ["dry run: stop would change 1 host(s) of staging; nothing was changed"]
    assert local.get()["color"] == "blue"  # nothing stopped

    stop = local.run("stop", "staging")
    assert stop.code == 0, stop.out + stop.err
    assert (
        "local                 stop     stopped caddy, web-blue, worker-blue and supervisord ("
        in stop.out
    )
    assert stop.out.splitlines()[-1].startswith("staging stopped on 1 host(s): local in ")
    assert SUMMARY.search(stop.out.splitlines()[-1])
    try:
        httpx.get(local.url, timeout=2)
        raise AssertionError("Caddy still answers after stop")
    except httpx.TransportError:
        pass
    state = json.loads((local.app_dir("localhost") / "state.json").read_text())
    assert state["stopped_at"] is not None
    stopped = local.run("status", "staging", "--check")
    assert stopped.code == 1
    row = [cell.strip() for cell in stopped.out.splitlines()[3].split("│")[1:-1]]
    assert row[5:] == ["stopped", "web, worker"], row
    assert "local: down: stopped with conveyor stop " in stopped.out
    assert "conveyor start staging starts it again" in stopped.out

    start = local.run("start", "staging")
    assert start.code == 0, start.out + start.err
    assert "local                 start    up: serves 0.0.0+1.g" in start.out
    assert start.out.splitlines()[-1].startswith("staging started on 1 host(s): local in ")
    assert local.get()["color"] == "blue"
    assert local.run("status", "staging", "--check").code == 0
    assert kinds(local)[:2] == [("start", "succeeded"), ("stop", "succeeded")]

    # A release command that fails: before anything started, nothing is rolled back.
    toml = local.root / "conveyor.toml"
    toml.write_text(
        toml.read_text()
        + '\n[release]\ncommand = "python -c \'import sys; sys.exit(\\"no database\\")\'"\n'
        'run_on = "web"\n'
    )
    subprocess.run([*GIT, "commit", "-qam", "release"], cwd=local.root, check=True)
    bad = local.deploy()
    assert bad.code == 1
    assert " rollback " not in bad.out
    assert bad.err.count("no database") == 1, bad.err
    assert bad.err.splitlines()[-1].startswith("deploy failed after ")
    assert local.get()["color"] == "blue"


def test_stop_and_start_over_ssh(
    make_deploy_project: Callable[..., DeployProject], sshd: Sshd
) -> None:
    args = ("--known-hosts", str(sshd.known_hosts), "--identity", str(sshd.identity))
    project = make_deploy_project(hosts=[sshd.spec], ssh_args=args)
    project.app_dir(sshd.host)
    assert project.deploy().code == 0
    stop = project.run("stop", "staging", *args)
    assert stop.code == 0, stop.out + stop.err
    assert stop.out.splitlines()[-1].startswith(f"staging stopped on 1 host(s): {sshd.spec} in ")
    with pytest.raises(httpx.TransportError):
        httpx.get(project.url, timeout=2)
    down = project.run("status", "staging", *args, "--json")
    assert json.loads(down.out)[0]["services"] == {"web": "stopped", "worker": "stopped"}
    start = project.run("start", "staging", *args)
    assert start.code == 0, start.out + start.err
    assert f"{sshd.spec}" in start.out and "up: serves 0.0.0+1.g" in start.out
    assert project.get()["color"] == "blue"
    up = project.run("status", "staging", *args, "--json")
    assert json.loads(up.out)[0]["services"] == {"web": "running", "worker": "running"}


def test_a_deploy_after_stop_serves_and_status_says_up(local: DeployProject) -> None:
    """`conveyor stop`, then a deploy of a new commit: the host serves it, and neither its
    state nor `status` still says "stopped", nor claims the stopped colour is warm."""
    assert local.deploy().code == 0
    assert local.run("stop", "staging").code == 0
    local.commit("ok")
    again = local.deploy()
    assert again.code == 0, again.out + again.err
    assert local.get()["color"] == "green"
    state = json.loads((local.app_dir("localhost") / "state.json").read_text())
    assert (state["stopped_at"], state["warm_until"]) == (None, None)
    up = local.run("status", "staging", "--check")
    assert up.code == 0, up.out
    row = [cell.strip() for cell in up.out.splitlines()[3].split("│")[1:-1]]
    assert row[5] == "up", row
