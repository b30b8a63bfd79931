"""Events queued by a deploy's event loop are written by a thread, in order, before finish."""

from __future__ import annotations

import re
import threading

from conveyor.history import HistoryStore
from conveyor.history.writer import EventWriter, Queued
from tests.unit.history.conftest import deploy


def test_queued_events_are_all_written_in_order_before_the_record_finishes(
    store: HistoryStore,
) -> None:
    deploy_id = deploy(store)
    for number in range(50):
        store.event_later(deploy_id, kind="switch:ok", message=f"event {number}", host="app-1")
    store.finish(deploy_id, status="succeeded", message="done")
    events = store.events(deploy_id)
    assert [e.message for e in events] == [f"event {n}" for n in range(50)]
    assert {e.host for e in events} == {"app-1"}


def test_the_caller_never_waits_on_the_database() -> None:
    """A write held up (a database lock, a slow PostgreSQL) does not hold up the event loop:
    the writer is given a function that blocks until released; no database is needed for
    that logic."""
    release, written = threading.Event(), []
    callers = set()

    def slow(item: Queued) -> None:
        callers.add(threading.get_ident())
        release.wait(10)
        written.append(item.message)

    writer = EventWriter(slow)
    for number in range(3):
        writer.put(Queued("d-1", "start:start", f"event {number}", None))  # returns while blocked
    assert written == []
    release.set()
    writer.stop()
    assert written == ["event 0", "event 1", "event 2"]
    assert threading.get_ident() not in callers


def test_an_event_that_cannot_be_written_is_said_in_the_finished_record(
    store: HistoryStore,
) -> None:
    deploy_id = deploy(store)
    store.event_later("d-20990101-000000-dead", kind="switch:ok", message="lost")
    store.finish(deploy_id, status="succeeded", message="done")
    record = store.get(deploy_id)
    assert record.status == "succeeded"
    assert re.fullmatch(
        r"done \(the history could not record 1 event\(s\): .*d-20990101.*\)", record.message, re.S
    )


def test_an_events_structured_values_and_duration_are_kept(store: HistoryStore) -> None:
    deploy_id = deploy(store)
    facts = {"event": "switched", "service": "web", "port": 8101, "colour": "green"}
    store.event_later(
        deploy_id, kind="switch:ok", message="Caddy routes to 8101", host="app-1",
        fields=facts, seconds=0.25,
    )  # fmt: skip
    store.event_later(deploy_id, kind="deploy:ok", message="done")
    store.finish(deploy_id, status="succeeded", message="done")
    switched, done = store.events(deploy_id)
    assert (switched.fields, switched.seconds) == (facts, 0.25)
    assert (done.fields, done.seconds) == ({}, None)
