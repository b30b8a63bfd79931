"""The outbox: written in the record's own transaction, claimed once, in order per subject
and target, held back by a dead letter until it is retried."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from conveyor.errors import ConveyorError
from conveyor.history.models import OutboxRow
from conveyor.history.store import HistoryStore
from conveyor.notify import outbox
from conveyor.notify.notice import Notice
from tests.unit.history.conftest import T0, Clock
from tests.unit.notify.conftest import config_of, open_store, record

LEASE = timedelta(seconds=60)
ALL = 'targets = ["json://a/$P", "json://b/x"]\non = ["started", "succeeded", "failed"]\n'


def rows(store: HistoryStore) -> list[OutboxRow]:
    with store.transaction() as session:
        return list(session.scalars(select(OutboxRow).order_by(OutboxRow.id)))


def notice(subject: str, event: str = "failed", *targets: str) -> Notice:
    return Notice(
        subject, "production", event, f"{subject} {event}", "body", targets or ("json://a/x",)
    )


def test_a_record_s_start_and_end_are_enqueued_with_it(tmp_path: Path, clock: Clock) -> None:
    store = open_store(tmp_path, clock, config_of(tmp_path, ALL))
    deploy_id = record(store)
    store.event(deploy_id, kind="health:fail", message="down", host="deploy@app-2")
    clock.advance(63)
    store.finish(
        deploy_id, status="failed", message="deploy of 1.4.0 failed: health", cause="HTTP 500"
    )
    found = rows(store)
    assert [(r.subject, r.seq, r.event, r.target, r.status) for r in found] == [
        (deploy_id, 1, "started", "json://a/$P", "pending"),
        (deploy_id, 1, "started", "json://b/x", "pending"),
        (deploy_id, 2, "failed", "json://a/$P", "pending"),
        (deploy_id, 2, "failed", "json://b/x", "pending"),
    ]
    record_ = store.get(deploy_id)
    # Written by the transactions that wrote the record: at the same instants.
    assert [r.created_at for r in found] == [record_.started_at] * 2 + [record_.finished_at] * 2
    assert found[2].title == "production: deploy of 1.4.0 failed"
    assert "failed on: deploy@app-2\n" in found[2].body
    assert found[2].body.endswith(f"\nmessage: {deploy_id}:2")
    store.close()


def test_when_the_notices_cannot_be_written_neither_is_the_record(
    tmp_path: Path, clock: Clock
) -> None:
    def broken(*_: object) -> list[Notice]:
        raise RuntimeError("no notices today")

    store = HistoryStore(f"sqlite:///{tmp_path / 'h.db'}", clock=clock, announce=broken)
    with pytest.raises(RuntimeError, match="no notices today"):
        record(store)
    assert store.deploys() == [] and rows(store) == []
    store.close()
    store = open_store(tmp_path, clock, config_of(tmp_path, ALL))
    deploy_id = record(store)
    store._announce = broken  # the finish of a running record, likewise
    with pytest.raises(RuntimeError):
        store.finish(deploy_id, status="succeeded", message="ok")
    assert store.get(deploy_id).status == "running"
    assert [r.event for r in rows(store)] == ["started", "started"]
    store.close()


def test_sequences_count_per_subject_across_transactions(tmp_path: Path, clock: Clock) -> None:
    store = open_store(tmp_path, clock)
    with store.transaction() as session:
        assert outbox.enqueue(session, [notice("a-1", "approval_requested")], now=T0) == [1]
    with store.transaction() as session:
        outbox.enqueue(
            session,
            [
                notice("d-9"),
                notice("a-1", "approval_given"),
                notice("a-1", "approval_given", "json://a/x", "json://a/x"),
            ],
            now=T0,
        )
    assert [(r.subject, r.seq) for r in rows(store)] == [
        ("a-1", 1),
        ("d-9", 1),
        ("a-1", 2),
        ("a-1", 3),
    ]
    with store.transaction() as session:
        assert outbox.enqueue(session, [notice("x", "failed", *())], now=T0) == [5]
        assert outbox.enqueue(session, [Notice("y", "p", "failed", "t", "b", ())]) == []
    store.close()


def test_a_row_is_claimed_by_one_sender_until_its_lease_runs_out(
    tmp_path: Path, clock: Clock
) -> None:
    store = open_store(tmp_path, clock)
    with store.transaction() as session:
        outbox.enqueue(session, [notice("d-1")], now=T0)
    with store.transaction() as session:
        mine = outbox.claim(session, now=T0, owner="one", lease=LEASE)
        assert mine is not None and (mine.key, mine.attempts) == ("d-1:1", 0)
        assert outbox.claim(session, now=T0, owner="two", lease=LEASE) is None
        assert outbox.next_due(session, now=T0) is None  # held: not for another sender
    later = T0 + LEASE + timedelta(seconds=1)
    with store.transaction() as session:
        theirs = outbox.claim(session, now=later, owner="two", lease=LEASE)  # "one" died
        assert theirs is not None and theirs.id == mine.id
        # The first holder's late failure does not undo the new claim; a success counts.
        outbox.mark_failed(session, mine.id, owner="one", error="e", retry_at=later, dead=False)
        assert session.get(OutboxRow, mine.id).claimed_by == "two"  # type: ignore[union-attr]
        outbox.mark_sent(session, mine.id, now=later)
    [row] = rows(store)
    assert (row.status, row.attempts, row.claimed_by, row.sent_at) == ("sent", 1, None, later)
    store.close()


def test_later_messages_wait_for_earlier_ones_of_their_subject_and_target(
    tmp_path: Path, clock: Clock
) -> None:
    store = open_store(tmp_path, clock)
    with store.transaction() as session:
        outbox.enqueue(session, [notice("d-1", "started", "json://a/x", "json://b/x")], now=T0)
        outbox.enqueue(session, [notice("d-2", "started")], now=T0)
        outbox.enqueue(session, [notice("d-1", "failed", "json://a/x", "json://b/x")], now=T0)
    soon = T0 + timedelta(seconds=30)
    with store.transaction() as session:
        first = outbox.claim(session, now=T0, owner="s", lease=LEASE)
        assert first is not None and (first.key, first.target) == ("d-1:1", "json://a/x")
        outbox.mark_failed(
            session, first.id, owner="s", error="HTTP 500", retry_at=soon, dead=False
        )
        taken = []
        while (row := outbox.claim(session, now=T0, owner="s", lease=LEASE)) is not None:
            taken.append((row.key, row.target))
        # d-1's second message to a/x waits for its first; to b/x it does not.
        assert taken == [("d-1:1", "json://b/x"), ("d-2:1", "json://a/x")]
    with store.transaction() as session:
        again = outbox.claim(session, now=soon, owner="s", lease=LEASE)
        assert again is not None and (again.id, again.attempts) == (first.id, 1)
        outbox.mark_failed(session, first.id, owner="s", error="gone", retry_at=soon, dead=True)
    with store.transaction() as session:
        report = outbox.report(session)
    assert [(r.id, r.key, r.held_by) for r in report.pending] == [
        (2, "d-1:1", None),
        (3, "d-2:1", None),
        (4, "d-1:2", 1),
        (5, "d-1:2", 2),
    ]
    assert [(r.id, r.last_error, r.attempts) for r in report.dead] == [(1, "gone", 2)]
    with store.transaction() as session:
        assert outbox.next_due(session, now=T0) is None  # all claimed, or held by the dead
        assert outbox.revive(session, None, now=soon) == [1]
        again = outbox.claim(session, now=soon, owner="s", lease=LEASE)
        assert again is not None and (again.id, again.attempts) == (1, 0)
    store.close()


def test_a_service_s_wait_holds_every_row_to_its_target(tmp_path: Path, clock: Clock) -> None:
    store = open_store(tmp_path, clock)
    with store.transaction() as session:
        outbox.enqueue(
            session, [notice("d-1"), notice("d-2"), notice("d-3", "failed", "json://b/x")], now=T0
        )
        row = outbox.claim(session, now=T0, owner="s", lease=LEASE)
        assert row is not None
        wait = T0 + timedelta(seconds=120)
        outbox.mark_failed(
            session, row.id, owner="s", error="429", retry_at=wait, dead=False, hold_target=True
        )
    assert [(r.subject, r.next_at) for r in rows(store)] == [
        ("d-1", wait),
        ("d-2", wait),
        ("d-3", T0),
    ]
    store.close()


def test_retry_names_dead_letters_only(tmp_path: Path, clock: Clock) -> None:
    store = open_store(tmp_path, clock)
    with store.transaction() as session:
        outbox.enqueue(session, [notice("d-1")], now=T0)
    with store.transaction() as session, pytest.raises(ConveyorError) as raised:
        outbox.revive(session, [1], now=T0)
    assert (
        raised.value.message == "notification 1 is pending, not a dead letter; nothing was changed"
    )
    with store.transaction() as session, pytest.raises(ConveyorError) as raised:
        outbox.revive(session, [7], now=T0)
    assert raised.value.message == "no notification 7 in the outbox"
    assert raised.value.hint == "conveyor notify status lists the dead letters and their ids"
    with store.transaction() as session:
        assert outbox.revive(session, None, now=T0) == []
    store.close()
