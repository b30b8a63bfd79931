"""The store's records about commits: changes per deploy, check results, step events."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from conveyor.errors import ConveyorError
from conveyor.history import Change, CheckRecord, HistoryStore
from tests.unit.history.conftest import T0, Clock, deploy

CONFIG = "sha256:" + "c" * 64
OTHER = "sha256:" + "d" * 64


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def test_a_deploys_changes_come_back_newest_first(store: HistoryStore) -> None:
    first, second = deploy(store), deploy(store, environment="staging")
    old = Change("a" * 40, T0 - timedelta(hours=3), "Ann <ann@example.com>")
    new = Change("b" * 40, T0 - timedelta(hours=1), "Bo <bo@example.com>")
    store.record_changes(first, [old, new, old])  # a commit named twice is kept once
    store.record_changes(second, [new])
    assert store.changes([first, second, "d-none"]) == {first: [new, old], second: [new]}
    assert store.changes([]) == {}


def test_changes_of_an_unknown_deploy_are_refused(store: HistoryStore) -> None:
    with pytest.raises(ConveyorError, match="no deploy 'd-0' in the history"):
        store.record_changes("d-0", [Change("a" * 40, T0, "")])


def test_changes_of_many_deploys_are_read_in_chunks(store: HistoryStore, clock: Clock) -> None:
    ids = []
    for n in range(3):
        ids.append(deploy(store))
        store.record_changes(ids[-1], [Change(f"{n:040d}", T0, "")])
        clock.advance(1)
    from conveyor.history import commits

    original, commits.CHUNK = commits.CHUNK, 2
    try:
        found = store.changes(ids)
    finally:
        commits.CHUNK = original
    assert [found[i][0].sha for i in ids] == [f"{n:040d}" for n in range(3)]


def test_check_passed_is_the_earliest_pass_of_that_commit_and_config(store: HistoryStore) -> None:
    sha = "f" * 40
    runs = [
        (sha, CONFIG, False, 0, 2),  # failed: never the answer
        (sha, CONFIG, True, 10, 14),  # the earliest pass
        (sha, CONFIG, True, 20, 21),  # a later pass
        (sha, OTHER, True, 1, 3),  # another checks configuration
        ("e" * 40, CONFIG, True, 0, 1),  # another commit
    ]
    for commit, config, passed, start, end in runs:
        store.record_check(
            commit=commit,
            config=config,
            passed=passed,
            started_at=at(start),
            finished_at=at(end),
            summary=f"{start}-{end}",
        )
    found = store.check_passed(sha, CONFIG)
    assert found == CheckRecord(
        id=2,
        commit=sha,
        config=CONFIG,
        passed=True,
        started_at=at(10),
        finished_at=at(14),
        summary="10-14",
    )
    assert store.check_passed(sha, OTHER) is not None
    assert store.check_passed(sha, "sha256:none") is None
    assert store.check_passed("0" * 40, CONFIG) is None
    # Metrics ask when a commit first passed whatever the configuration: OTHER's run at 3.
    assert store.checks_passed_at([sha, "e" * 40, "0" * 40]) == {sha: at(3), "e" * 40: at(1)}


def test_a_check_needs_its_commit_and_config(store: HistoryStore) -> None:
    with pytest.raises(ConveyorError, match="without its commit and configuration"):
        store.record_check(
            commit="", config=CONFIG, passed=True, started_at=T0, finished_at=T0, summary=""
        )


def test_step_events_are_one_steps_events_of_many_deploys(store: HistoryStore) -> None:
    first, second = deploy(store), deploy(store)
    fields = {"requested_at": "2026-11-23T14:00:00+00:00", "approved_at": "x"}
    store.event(first, kind="approval", message="approved by bob", fields=fields)
    store.event(first, kind="approvals:ok", message="another step")
    store.event(second, kind="approval:ok", message="approved by ann")
    store.event(second, kind="lock:ok", message="locked")
    found = store.step_events([first, second], "approval")
    assert [e.message for e in found[first]] == ["approved by bob"]
    assert found[first][0].fields == fields
    assert [e.kind for e in found[second]] == ["approval:ok"]


def test_a_hotfix_is_recorded_and_last_can_ask_for_a_kind(
    store: HistoryStore, clock: Clock
) -> None:
    fix = deploy(store, hotfix=True)
    store.finish(fix, status="succeeded", message="ok")
    clock.advance(60)
    back = deploy(store, kind="rollback")
    store.finish(back, status="succeeded", message="ok")
    assert store.get(fix).hotfix and not store.get(back).hotfix
    assert store.last("production") == store.get(back)
    assert store.last("production", kind="deploy") == store.get(fix)
    with pytest.raises(ConveyorError, match="kind must be one of"):
        store.last("production", kind="hotfix")
