"""Recovery's decisions from what the hosts show: which deploy stopped, forward or back."""

from __future__ import annotations

from datetime import datetime, timezone

from conveyor.deploy.interrupted import (
    Interrupted,
    Seen,
    all_switched,
    decide,
    describe,
    find_interrupted,
    interrupted_message,
    live_locks,
    program_release,
    running_step,
    should_stop_idle,
    summary,
)
from conveyor.deploy.lock import LockInfo, LockOwner
from conveyor.deploy.state import HostState
from conveyor.history.records import DeployEvent

OLD = HostState(release="r-1", colour="blue", deploy_id="d-0", venv="v")
ALICE = LockOwner("d-9", "alice", "laptop", 123, 1_795_000_000.0)


def pending() -> HostState:
    return HostState(release="r-1", colour="blue", deploy_id="d-9", pending_release="r-2", venv="v")


def switched() -> HostState:
    return OLD.switched("r-2", version="2", venv="v", at=1.0, deploy_id="d-9", warm_for=60)


def stale(age: float = 200.0) -> LockInfo:
    return LockInfo(ALICE, age, "t", stale=True)


def test_a_quiet_consistent_environment_has_nothing_to_recover() -> None:
    seen = [Seen("a", OLD), Seen("b", OLD)]
    assert find_interrupted(seen) is None


def test_a_live_lock_is_a_running_deploy_not_an_interrupted_one() -> None:
    live = LockInfo(ALICE, 1.0, "t", stale=False)
    seen = [Seen("a", pending(), live), Seen("b", OLD, live)]
    assert [s.host for s in live_locks(seen)] == ["a", "b"]


def test_killed_before_any_switch_goes_back_on_every_locked_host() -> None:
    seen = [Seen("a", OLD, stale()), Seen("b", OLD, stale())]
    found = find_interrupted(seen)
    assert found is not None
    assert found.deploy_id == "d-9" and found.owner == ALICE
    assert found.targeted == ("a", "b") and found.release is None
    assert decide(found, seen, {}) == "back"


def test_killed_half_way_through_the_switches_goes_back() -> None:
    seen = [Seen("a", switched(), stale()), Seen("b", pending(), stale()), Seen("c", OLD, stale())]
    found = find_interrupted(seen)
    assert found is not None
    assert found.release == "r-2"
    assert found.switched == ("a",) and found.pending == ("b",)
    assert not all_switched(found)
    assert decide(found, seen, {"a": True, "b": True, "c": True}) == "back"


def test_every_host_switched_and_healthy_goes_forward() -> None:
    seen = [Seen("a", switched(), stale()), Seen("b", switched(), stale())]
    found = find_interrupted(seen)
    assert found is not None and all_switched(found)
    assert decide(found, seen, {"a": True, "b": True}) == "forward"
    # One new colour that does not answer through Caddy now: back, everywhere.
    assert decide(found, seen, {"a": True, "b": False}) == "back"


def test_a_host_the_history_names_but_never_reached_keeps_it_from_going_forward() -> None:
    seen = [Seen("a", switched()), Seen("b", OLD)]
    found = find_interrupted(seen, unfinished=lambda d: d == "d-9", planned={"d-9": ["a", "b"]})
    assert found is not None
    assert found.targeted == ("a", "b")
    assert decide(found, seen, {"a": True, "b": True}) == "back"


def test_a_pending_switch_without_a_lock_is_still_interrupted() -> None:
    seen = [Seen("a", pending()), Seen("b", OLD)]
    found = find_interrupted(seen)
    assert found is not None
    assert found.deploy_id == "d-9" and found.release == "r-2" and found.targeted == ("a",)


def test_hosts_that_disagree_are_interrupted_only_while_history_says_running() -> None:
    # A deploy limited to one host (finished) leaves hosts on different releases on purpose.
    seen = [Seen("a", switched()), Seen("b", OLD)]
    assert find_interrupted(seen, unfinished=lambda d: False) is None
    found = find_interrupted(seen, unfinished=lambda d: d == "d-9")
    assert found is not None and found.deploy_id == "d-9" and found.targeted == ("a",)


def test_a_stale_lock_without_an_owner_record_is_recovered_back() -> None:
    seen = [Seen("a", OLD, LockInfo(None, 500.0, "t", stale=True))]
    found = find_interrupted(seen)
    assert found is not None and found.deploy_id is None
    assert decide(found, seen, {"a": True}) == "back"


def test_only_idle_programs_of_the_interrupted_release_are_stopped() -> None:
    keep = {"r-1", "r-0"}
    assert should_stop_idle("r-2", interrupted_release="r-2", keep=keep)
    assert not should_stop_idle("r-0", interrupted_release="r-2", keep=keep)  # warm previous
    assert not should_stop_idle("r-1", interrupted_release="r-2", keep=keep)
    assert not should_stop_idle("r-7", interrupted_release="r-2", keep=keep)
    assert should_stop_idle("r-7", interrupted_release=None, keep=keep)
    assert not should_stop_idle(None, interrupted_release=None, keep=keep)


def test_program_release_reads_the_supervisor_definition() -> None:
    text = (
        "[program:web-green]\ncommand = x\n"
        'environment = APP_VERSION="2",CONVEYOR_COLOR="green",CONVEYOR_RELEASE="r-2",PORT="1"\n'
    )
    assert program_release(text) == "r-2"
    assert program_release("[program:x]\ncommand = y\n") is None


def test_what_a_person_reads() -> None:
    found = Interrupted(
        deploy_id="d-9", owner=ALICE, age=200.0, release="r-2", targeted=("a",), pending=("a",)
    )
    assert describe(found, "staging") == (
        "interrupted deploy d-9 (alice on laptop, pid 123, last heartbeat 3 min ago, "
        "switch pending on a): run conveyor recover staging"
    )
    assert summary({"a": "r-1", "b": "r-1"}) == "every host serves r-1"
    assert summary({"a": "r-1"}) == "a serves r-1"
    assert interrupted_message("during switch on a", "d-10") == (
        "interrupted: conveyor stopped during switch on a; recovered by d-10"
    )
    assert interrupted_message(None, "d-10") == (
        "interrupted: conveyor stopped during its start (no step recorded); recovered by d-10"
    )


def events(*kinds: tuple[str, str | None]) -> list[DeployEvent]:
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    return [DeployEvent("d-9", at, host, kind, "") for kind, host in kinds]


def test_the_step_that_was_running_is_the_newest_started_and_never_finished() -> None:
    """A deploy killed while a worker drains: its last finished event is the switch, but
    the step that was running is the stop (the record once named the step before it)."""
    killed_in_drain = events(
        ("upload:start", None),
        ("upload:ok", "a"),
        ("start:start", "a"),
        ("health:ok", "a"),
        ("switch:start", "a"),
        ("switch:ok", "a"),
        ("stop:start", "a"),
    )
    assert running_step(killed_in_drain) == "during stop on a"
    # Killed while the venv phase runs: the phase itself is the open step.
    assert running_step(
        events(("upload:start", None), ("upload:ok", "a"), ("venv:start", None))
    ) == ("during venv")
    # Every step started also finished: conveyor stopped between two steps.
    assert running_step(events(("watch:start", None), ("watch:ok", None), ("stop:ok", "a"))) == (
        "after stop on a"
    )
    assert running_step([]) is None
