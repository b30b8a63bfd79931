"""Deploys under faults, on a fleet of real hosts (network namespaces with real sshds).

Every scenario breaks one thing on one host while a steady load runs through
every host's Caddy, then checks what a user would check: every reachable host
serves one known-good release (through its Caddy and in `conveyor status`),
no request failed on a host that stayed up, the history record tells the
truth, and the message names the host. One fleet serves the module; after
each test every host is healed and put back on the known-good release.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator

import pytest

from bench.netns import NetnsHost
from conveyor.runtime.supervisor import supervisorctl
from tests.integration.fleet import STRATEGY, FaultFleet, Line, Loads, available

REASON = available()
pytestmark = [pytest.mark.skipif(REASON is not None, reason=REASON or ""), pytest.mark.slow]


@pytest.fixture(scope="module")
def module_fleet() -> Iterator[FaultFleet]:
    fleet = FaultFleet(3)
    try:
        first = fleet.deploy()
        assert first.code == 0, first.text
        fleet.good = fleet.release_of(fleet.hosts[0])
        head = ["git", "rev-parse", "HEAD"]
        fleet.good_ref = subprocess.run(
            head, cwd=fleet.root, capture_output=True, text=True, check=True
        ).stdout.strip()
        fleet.assert_one_release(fleet.good)
        yield fleet
    finally:
        fleet.close()


@pytest.fixture
def fleet(module_fleet: FaultFleet) -> Iterator[FaultFleet]:
    module_fleet.set_strategy(STRATEGY)
    yield module_fleet
    module_fleet.set_strategy(STRATEGY)
    module_fleet.reset()


def no_failed_requests(loads: Loads, *skip: NetnsHost) -> None:
    """No request failed through the Caddy of any host but those cut off on purpose."""
    assert loads.failed(skip=skip) == {}, loads.summary()


def latest(fleet: FaultFleet) -> dict[str, object]:
    record = fleet.history()[0]
    assert record["kind"] == "deploy"
    return record


def on(host: NetnsHost, *steps: str) -> Callable[[Line], bool]:
    """A matcher for one host's event lines of these steps."""
    return lambda line: line.host == host.spec and line.step in steps


def test_a_host_unreachable_before_the_deploy_changes_nothing(fleet: FaultFleet) -> None:
    down = fleet.hosts[1]
    fleet.stop_sshd(down)
    fleet.commit()
    with fleet.load() as loads:
        result = fleet.deploy()
    assert result.code == 1, result.text
    assert down.address in result.err
    assert "Traceback" not in result.text, result.text
    no_failed_requests(loads)  # only its sshd is down: its Caddy still serves
    record = latest(fleet)
    assert record["status"] == "failed"
    assert down.address in str(record["message"])
    for host in fleet.hosts:  # nothing changed anywhere: not even an upload
        assert not (fleet.app_dir(host) / "releases" / str(record["release"])).exists()
    fleet.start_sshd(down)
    fleet.assert_one_release(fleet.good)


def test_a_host_cut_off_after_upload_before_the_switch(fleet: FaultFleet) -> None:
    victim = fleet.hosts[1]
    others = [h for h in fleet.hosts if h is not victim]
    fleet.commit()
    with fleet.load() as loads:
        running = fleet.start_deploy()
        running.wait_for(on(victim, "start", "health"))
        fleet.cut(victim)
        result = running.finish()
    assert result.code == 1, result.text
    assert victim.address in result.err
    assert "Traceback" not in result.text, result.text
    no_failed_requests(loads, victim)
    assert not [line for line in running.lines() if line.step == "switch"], result.out
    fleet.assert_one_release(fleet.good, hosts=others)
    record = latest(fleet)
    assert record["status"] == "failed"
    assert victim.address in str(record["message"])
    fleet.reconnect(victim)
    fleet.assert_one_release(fleet.good)  # the cut host never took the new release either


def test_a_host_dying_after_its_switch_switches_the_others_back(fleet: FaultFleet) -> None:
    first, victim, last = fleet.hosts
    fleet.commit()
    with fleet.load() as loads:
        running = fleet.start_deploy()
        # Cut once its Caddy routes to the new colour: its state.json says a switch is pending.
        running.wait_for(lambda line: on(victim, "switch")(line) and "now routes" in line.message)
        fleet.cut(victim)
        switched = {line.host for line in running.lines() if line.step == "switch"}
        assert last.spec not in switched  # batch = 1: the last host had not switched yet
        assert first.spec in switched
        result = running.finish()
    assert result.code == 1, result.text
    assert victim.address in result.err
    assert "Traceback" not in result.text, result.text
    no_failed_requests(loads, victim)
    fleet.assert_one_release(fleet.good, hosts=[first, last])  # first was switched back
    record = latest(fleet)
    assert record["status"] == "rolled_back"
    assert victim.address in str(record["message"])
    assert "conveyor recover staging" in result.err
    # Back on the network, the victim shows its unfinished switch; recover puts it back.
    fleet.reconnect(victim)
    row = next(r for r in fleet.status() if r["host"] == victim.spec)
    assert row["state"]["pending_release"] == record["release"]
    recovered = fleet.run("recover", "staging", *fleet.ssh_args)
    assert recovered.code == 0, recovered.text
    fleet.assert_one_release(fleet.good)
    row = next(r for r in fleet.status() if r["host"] == victim.spec)
    assert row["state"]["pending_release"] is None


def test_a_crash_on_start_on_one_host_leaves_every_host_on_the_old_release(
    fleet: FaultFleet,
) -> None:
    victim = fleet.hosts[2]
    fleet.mark(victim, "CRASH")
    fleet.commit()
    with fleet.load() as loads:
        result = fleet.deploy()
    assert result.code == 1, result.text
    assert "web-green exited (exit status 1)" in result.err
    assert f"during its start gate on {victim.spec}" in result.err
    assert "crashing on purpose at start" in result.err  # the tail of its own log
    no_failed_requests(loads)
    fleet.assert_one_release(fleet.good)
    record = latest(fleet)
    assert record["status"] == "failed"
    assert victim.address in str(record["message"])
    assert "crashing on purpose" in str(record["cause"])


def test_a_crash_on_one_host_ends_the_other_hosts_gates_at_once(fleet: FaultFleet) -> None:
    """One host crashes at start; another's /health would keep its gate open until the
    health timeout (30 s here): the crash cancels that gate, and the deploy ends at once."""
    crashing, slow = fleet.hosts[0], fleet.hosts[1]
    fleet.set_strategy(STRATEGY.replace('health_timeout = "10s"', 'health_timeout = "30s"'))
    fleet.mark(crashing, "CRASH")
    fleet.mark(slow, "SLOW")
    fleet.commit()
    with fleet.load() as loads:
        began = time.monotonic()
        result = fleet.deploy()
        took = time.monotonic() - began
    assert result.code == 1, result.text
    assert f"during its start gate on {crashing.spec}" in result.err
    assert "not healthy after 30s" not in result.text
    # Its gate held until the 30 s timeout, the deploy would take longer than that.
    assert took < 30, f"the slow host's gate held the deploy for {took:.1f}s"
    no_failed_requests(loads)
    fleet.assert_one_release(fleet.good)


def test_health_failing_on_one_host_only(fleet: FaultFleet) -> None:
    victim = fleet.hosts[1]
    fleet.mark(victim, "UNHEALTHY")
    fleet.commit()
    with fleet.load() as loads:
        result = fleet.deploy()
    assert result.code == 1, result.text
    assert f"on {victim.spec} is not healthy" in result.err
    assert " 500 " in result.err  # the probes' timeline
    no_failed_requests(loads)
    fleet.assert_one_release(fleet.good)
    record = latest(fleet)
    assert record["status"] == "failed"
    assert victim.address in str(record["message"])


def test_a_rollback_whose_second_host_cannot_go_back_leaves_every_host_on_one_release(
    fleet: FaultFleet,
) -> None:
    """The previous release has gone cold on the second host and crashes when it starts
    again there: no host switches (host by host, the first would have gone back alone)."""
    first, victim, last = fleet.hosts
    fleet.commit()
    deployed = fleet.deploy()
    assert deployed.code == 0, deployed.text
    new = fleet.release_of(first)
    state = next(r for r in fleet.status() if r["host"] == victim.spec)["state"]
    app_dir = str(fleet.app_dir(victim))
    tools = str(fleet.app_dir(victim) / "tools")
    cold = subprocess.run(
        [*supervisorctl(app_dir, tools, "stop", f"web-{state['previous_colour']}")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert "stopped" in cold.stdout, cold.stdout + cold.stderr
    fleet.mark(victim, "CRASH")
    with fleet.load() as loads:
        result = fleet.run("rollback", "staging", *fleet.ssh_args)
    assert result.code == 1, result.text
    assert victim.spec in result.err
    assert "nothing was switched: every host still serves its release" in result.err
    assert "Traceback" not in result.text, result.text
    no_failed_requests(loads)
    fleet.assert_one_release(new, hosts=[first, victim, last])
    record = fleet.history()[0]
    assert (record["kind"], record["status"]) == ("rollback", "failed")


def test_a_deploy_after_a_limited_one_leaves_the_host_that_runs_it_and_rollback_is_whole(
    fleet: FaultFleet,
) -> None:
    """`deploy --host` to one host, then the whole environment: the host that already runs
    the release with these values is left as it is (its previous release stays its
    rollback), so a rollback afterwards puts every host on one release."""
    first = fleet.hosts[0]
    old = fleet.release_of(first)
    fleet.commit()
    limited = fleet.deploy("--host", first.spec)
    assert limited.code == 0, limited.text
    new = fleet.release_of(first)
    with fleet.load() as loads:
        whole = fleet.deploy()
    assert whole.code == 0, whole.text
    assert f"{first.spec}" in whole.out and "left as it is" in whole.out, whole.out
    assert "(1 already ran it with these values)" in whole.out
    fleet.assert_one_release(new)
    rows = {row["host"]: row["state"] for row in fleet.status()}
    assert {rows[h.spec]["previous_release"] for h in fleet.hosts} == {old}
    back = fleet.run("rollback", "staging", *fleet.ssh_args)
    assert back.code == 0, back.text
    no_failed_requests(loads)
    fleet.assert_one_release(old)


def test_a_rollback_that_fails_during_one_hosts_switch_puts_the_others_forward_again(
    fleet: FaultFleet,
) -> None:
    """The second host's traffic goes back, then its previous worker cannot start again (it
    crashes at start): the hosts that went back go forward again, one release everywhere."""
    first, victim = fleet.hosts[:2]
    fleet.commit()
    deployed = fleet.deploy()
    assert deployed.code == 0, deployed.text
    new = fleet.release_of(first)
    fleet.mark(victim, "CRASH_WORKER")
    with fleet.load() as loads:
        result = fleet.run("rollback", "staging", *fleet.ssh_args)
    assert result.code == 1, result.text
    assert f"{victim.spec}: worker-" in result.err
    assert f"every host serves {new} again, as before" in result.err
    assert "Traceback" not in result.text, result.text
    no_failed_requests(loads)
    fleet.assert_one_release(new)
    record = fleet.history()[0]
    assert (record["kind"], record["status"]) == ("rollback", "failed")


def test_a_rollback_in_batches_stops_at_the_failing_batch_and_puts_the_earlier_ones_forward(
    fleet: FaultFleet,
) -> None:
    """`rollback --batch 1`: the first host goes back; the second cannot (its previous worker
    crashes at start), so the first goes forward again and the third never switches."""
    first, victim, last = fleet.hosts
    fleet.commit()
    deployed = fleet.deploy()
    assert deployed.code == 0, deployed.text
    new = fleet.release_of(first)
    plan = fleet.run("rollback", "staging", "--batch", "1", "--dry-run", *fleet.ssh_args)
    assert plan.code == 0, plan.text
    assert f"batch 2 of 3: {victim.spec}" in plan.out, plan.out
    fleet.mark(victim, "CRASH_WORKER")
    with fleet.load() as loads:
        result = fleet.run("rollback", "staging", "--batch", "1", *fleet.ssh_args)
    assert result.code == 1, result.text
    assert f"batch 1 of 3: {first.spec}" in result.out, result.out
    assert f"batch 2 of 3: {victim.spec}" in result.out, result.out
    assert "batch 3 of 3" not in result.out
    routed = [line for line in result.out.splitlines() if "routes to port" in line]
    assert routed and not [line for line in routed if last.spec in line], result.out
    assert f"every host serves {new} again, as before" in result.err
    assert "Traceback" not in result.text, result.text
    no_failed_requests(loads)
    fleet.assert_one_release(new)


def test_max_failures_one_leaves_the_failing_host_on_the_old_release(fleet: FaultFleet) -> None:
    victim = fleet.hosts[1]
    others = [h for h in fleet.hosts if h is not victim]
    fleet.set_strategy(f"{STRATEGY}, max_failures = 1")
    fleet.mark(victim, "UNHEALTHY")
    fleet.commit()
    with fleet.load() as loads:
        result = fleet.deploy()
    assert result.code == 0, result.text
    assert "Traceback" not in result.text, result.text
    reported = [
        line
        for line in result.out.splitlines()
        if line.startswith(victim.spec) and "left on its previous release" in line
    ]
    assert reported, result.out
    no_failed_requests(loads)
    record = latest(fleet)
    assert record["status"] == "succeeded"
    new = str(record["release"])
    fleet.assert_one_release(new, hosts=others)
    fleet.assert_one_release(fleet.good, hosts=[victim])  # never half-switched
    events = fleet.show(str(record["id"]))["events"]
    assert any(
        e["host"] == victim.spec and "left on its previous release" in e["message"] for e in events
    ), events


def test_max_failures_zero_puts_every_host_back(fleet: FaultFleet) -> None:
    victim = fleet.hosts[1]
    fleet.set_strategy(f"{STRATEGY}, max_failures = 0")
    fleet.mark(victim, "UNHEALTHY")
    fleet.commit()
    with fleet.load() as loads:
        result = fleet.deploy()
    assert result.code == 1, result.text
    assert f"on {victim.spec} is not healthy" in result.err
    no_failed_requests(loads)
    fleet.assert_one_release(fleet.good)
    record = latest(fleet)
    assert record["status"] in ("failed", "rolled_back")
    assert victim.address in str(record["message"])


def test_two_deploys_at_once_exactly_one_proceeds(fleet: FaultFleet) -> None:
    fleet.commit()
    with fleet.load() as loads:
        one, two = fleet.start_deploy(), fleet.start_deploy()
        results = [one.finish(), two.finish()]
    assert sorted(r.code for r in results) == [0, 1], [r.text for r in results]
    winner = next(r for r in results if r.code == 0)
    loser = next(r for r in results if r.code == 1)
    assert "staging is locked on " in loser.err and " by " in loser.err, loser.text
    assert "(pid " in loser.err  # who holds it: user, machine, pid
    assert "Traceback" not in loser.text, loser.text
    no_failed_requests(loads)
    records = fleet.history()[:2]
    assert sorted(str(r["status"]) for r in records) == ["failed", "succeeded"]
    new = next(str(r["release"]) for r in records if r["status"] == "succeeded")
    assert "deployed: staging now runs" in winner.out
    fleet.assert_one_release(new)
    fleet.good = new


def test_a_full_disk_on_one_host_during_upload(fleet: FaultFleet) -> None:
    victim = fleet.hosts[2]
    fleet.commit()
    fleet.fill_disk(victim)
    with fleet.load() as loads:
        result = fleet.deploy()
    assert result.code == 1, result.text
    assert victim.address in result.err
    assert "no space" in result.err.lower()
    assert "Traceback" not in result.text, result.text
    no_failed_requests(loads)
    assert not [line for line in result.out.splitlines() if " switch " in line]
    record = latest(fleet)
    assert record["status"] == "failed"
    assert victim.address in str(record["message"])
    fleet.unmount_all()
    fleet.assert_one_release(fleet.good)


def test_a_worker_that_ignores_sigterm_is_killed_after_its_drain(fleet: FaultFleet) -> None:
    victim = fleet.hosts[0]
    fleet.mark(victim, "IGNORE_TERM")
    fleet.commit()
    started = fleet.deploy()  # its new worker starts ignoring SIGTERM
    assert started.code == 0, started.text
    fleet.good = fleet.release_of(victim)
    fleet.commit()
    with fleet.load() as loads:
        running = fleet.start_deploy()
        result = running.finish()
    assert result.code == 0, result.text
    no_failed_requests(loads)
    fleet.good = fleet.release_of(victim)
    fleet.assert_one_release(fleet.good)
    killed = [
        line
        for line in running.lines()
        if "killed after" in line.message and line.host == victim.spec
    ]
    assert killed, f"no 'killed after' (drain 2s) line for {victim.spec}:\n{result.out}"
    events = fleet.show(str(latest(fleet)["id"]))["events"]
    timeline = "\n".join(f"{e['host']} {e['kind']}: {e['message']}" for e in events)
    assert any("killed after" in e["message"] and e["host"] == victim.spec for e in events), (
        timeline
    )
    programs = next(r for r in fleet.status() if r["host"] == victim.spec)["programs"]
    workers = [name for name, state in programs.items() if name.startswith("worker")]
    assert [programs[name] for name in workers].count("running") == 1, programs


@pytest.mark.parametrize(
    "step", ["prepare", "upload", "env", "venv", "start", "health", "switch", "watch"]
)
def test_conveyor_killed_at_each_step_then_recover(fleet: FaultFleet, step: str) -> None:
    before = {r["id"] for r in fleet.history()}
    fleet.commit()
    with fleet.load() as loads:
        running = fleet.start_deploy()
        line = running.wait_for(lambda printed: printed.step == step)
        running.kill()
        recovered = fleet.run("recover", "staging", *fleet.ssh_args)
        assert recovered.code == 0, f"killed at {line}\n{recovered.text}"
        no_failed_requests(loads)
    release = fleet.release_of(fleet.hosts[0])
    fleet.assert_one_release(release)
    for host in fleet.hosts:
        assert not (fleet.app_dir(host) / "deploy.lock").exists(), host.spec
    killed = [r for r in fleet.history() if r["id"] not in before and r["kind"] == "deploy"]
    assert len(killed) == 1, killed
    assert killed[0]["status"] != "running", killed  # recover closed the killed deploy's record
    fleet.good = release
