"""What conveyor says is what happened: no lock broken where there was none, no stop reported
for a program that never existed, no release invented for a rollback that found none.

Real supervisord and Caddy on a local host, driven through `main()`.
"""

from __future__ import annotations

import subprocess

from conveyor.history.store import HistoryStore
from tests.integration.deployed import GIT, DeployProject


def test_unlock_without_a_lock_says_so_and_exits_non_zero(local: DeployProject) -> None:
    assert local.deploy().code == 0
    result = local.run("unlock", "staging")
    assert result.code == 1
    assert result.err.startswith(
        "error: staging is not locked on any of its 1 host(s); nothing was broken\n"
    ), result.err
    assert "is broken" not in result.out


def test_a_rollback_with_nothing_deployed_records_no_invented_release(
    local: DeployProject,
) -> None:
    planned = local.run("rollback", "staging", "--dry-run")  # fails as the rollback fails
    assert planned.code == 1
    assert "local: no previous release to roll back to; nothing was changed" in planned.err
    result = local.run("rollback", "staging")
    assert result.code == 1
    assert "local: no previous release to roll back to; nothing was changed" in result.err
    with HistoryStore.for_project(local.root) as store:
        (record,) = store.deploys("staging")
    assert (record.kind, record.status, record.release, record.version) == (
        "rollback",
        "failed",
        "",
        "",
    )
    listed = local.run("history", "staging")
    assert "previous (" not in listed.out and "()" not in listed.out  # the release column
    shown = local.run("history", "show", record.id)
    assert "  release: -\n" in shown.out, shown.out


def test_a_worker_new_in_this_release_has_no_old_colour_to_stop(local: DeployProject) -> None:
    """The first release has no worker; the second adds one: nothing old to drain."""
    toml = local.root / "conveyor.toml"
    with_worker = toml.read_text()
    web_only, _, environments = with_worker.partition("[services.worker]")
    toml.write_text(web_only + "[environments" + environments.partition("[environments")[2])
    subprocess.run([*GIT, "commit", "-qam", "web only"], cwd=local.root, check=True)
    assert local.deploy().code == 0
    toml.write_text(with_worker)
    subprocess.run([*GIT, "commit", "-qam", "a worker"], cwd=local.root, check=True)
    second = local.deploy()
    assert second.code == 0, second.out + second.err
    assert "worker-blue stopped gracefully" not in second.out
    assert "worker-blue did not exist: nothing to stop" in second.out


def test_a_host_with_nothing_to_run_gets_nothing(local: DeployProject) -> None:
    """A database host has a role of its own and no service: it is never contacted (it does
    not even exist here), gets no tools, release or supervisord, and rollback leaves it out."""
    toml = local.root / "conveyor.toml"
    toml.write_text(
        toml.read_text().replace(
            'hosts = { web = ["local"] }',
            'hosts = { web = ["local"], database = ["deploy@db-1.invalid"] }',
        )
    )
    subprocess.run([*GIT, "commit", "-qam", "a database host"], cwd=local.root, check=True)
    said = "nothing to run here (roles database): gets no tools and no release"
    planned = local.deploy("--dry-run")
    assert planned.code == 0, planned.out + planned.err
    assert "deploy@db-1.invalid" in planned.out and said in planned.out
    first = local.deploy()
    assert first.code == 0, first.out + first.err
    assert "deploy@db-1.invalid" in first.out and said in first.out
    assert "on 1 host(s)" in first.out
    local.commit("ok")
    assert local.deploy().code == 0
    back = local.run("rollback", "staging")
    assert back.code == 0, back.out + back.err
    assert "db-1" not in back.out
    with HistoryStore.for_project(local.root) as store:
        assert all(r.hosts == ("local",) for r in store.deploys("staging"))


def test_the_history_keeps_each_events_values_and_each_steps_duration(
    local: DeployProject,
) -> None:
    """`history show --json` gives what a dashboard or a notification needs without reading
    a sentence: where traffic went, and how long each step took."""
    import json

    assert local.deploy().code == 0
    with HistoryStore.for_project(local.root) as store:
        (record,) = store.deploys("staging")
    shown = json.loads(local.run("history", "show", record.id, "--json").out)
    events = shown["events"]
    switched = [e for e in events if e["fields"].get("event") == "switched"]
    assert [(e["host"], e["fields"]["service"], e["fields"]["colour"]) for e in switched] == [
        ("local", "web", "blue")
    ]
    assert isinstance(switched[0]["fields"]["port"], int)
    finished = [
        e for e in events if e["fields"].get("event") == "step" and e["kind"].endswith(":ok")
    ]
    assert {e["fields"]["op"] for e in finished} >= {"prepare", "upload", "launch", "route"}
    assert all(e["seconds"] is not None and e["seconds"] >= 0 for e in finished)
