"""The history store against the real PostgreSQL on this machine, in a throwaway database."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timezone

import pytest
from sqlalchemy import create_engine, inspect, select

from conveyor.errors import ConveyorError
from conveyor.history import Change, HistoryStore
from conveyor.history.engine import MAX_TEXT
from conveyor.history.migrate import VERSION_TABLE
from conveyor.history.models import OutboxRow
from conveyor.notify import outbox
from conveyor.notify.notice import Notice
from conveyor.notify.policy import Policy
from conveyor.notify.sender import Drained, Sender
from conveyor.notify.targets import Values
from tests.postgres import fresh_database
from tests.unit.history.conftest import T0, Clock, deploy
from tests.unit.notify.receiver import receiving


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty database, dropped afterwards (SQLAlchemy's psycopg URL)."""
    with fresh_database() as url:
        yield url.replace("postgresql://", "postgresql+psycopg://", 1)


def test_round_trip(pg_url: str) -> None:
    clock = Clock()
    with HistoryStore(pg_url, clock=clock) as store:
        first = deploy(store)
        store.event(first, kind="upload", message="12 files", host="deploy@app-1")
        store.event(first, kind="install", message="x" * 5000)
        clock.advance(30)
        store.finish(first, status="rolled_back", message="unhealthy", cause="HTTP 502")
        clock.advance(60)
        second = deploy(store, environment="staging")
        record = store.get(first)
        assert (record.status, record.cause, record.hosts) == (
            "rolled_back",
            "HTTP 502",
            ("deploy@app-1", "deploy@app-2"),
        )
        assert record.started_at == T0 and record.started_at.tzinfo is timezone.utc
        assert record.duration == 30
        events = store.events(first)
        assert [(e.host, e.kind) for e in events] == [("deploy@app-1", "upload"), (None, "install")]
        assert len(events[1].message) == MAX_TEXT
        assert [r.id for r in store.deploys()] == [second, first]
        assert [r.id for r in store.deploys("production")] == [first]
        assert store.last("production") is None
        assert store.last("production", status="rolled_back") == record
        with pytest.raises(ConveyorError, match="no deploy 'd-0' in the history at postgresql"):
            store.get("d-0")


def test_schema_comes_from_the_migrations_and_opens_twice_at_once(pg_url: str) -> None:
    # Two stores opening a fresh database together: the advisory lock serialises the migration.
    with ThreadPoolExecutor(2) as pool:
        stores = list(pool.map(HistoryStore, [pg_url, pg_url]))
    for store in stores:
        store.close()
    engine = create_engine(pg_url)
    with engine.connect() as connection:
        assert set(inspect(connection).get_table_names()) == {
            "conveyor_deploys",
            "conveyor_deploy_events",
            "conveyor_changes",
            "conveyor_checks",
            "conveyor_approvals",
            "conveyor_signatures",
            "conveyor_notify_outbox",
            VERSION_TABLE,
        }
    engine.dispose()


def test_an_unreachable_server_is_an_error_for_a_person() -> None:
    with pytest.raises(ConveyorError) as raised:
        HistoryStore("postgresql+psycopg://postgres:secret@127.0.0.1:1/nothing")
    assert raised.value.message.startswith(
        "cannot open history database postgresql+psycopg://postgres:***@127.0.0.1:1/nothing: "
    )
    assert "secret" not in str(raised.value)


def test_changes_and_check_results(pg_url: str) -> None:
    with HistoryStore(pg_url, clock=Clock()) as store:
        first = deploy(store, hotfix=True)
        change = Change("a" * 40, T0, "Ann <ann@example.com>")
        store.record_changes(first, [change])
        assert store.changes([first]) == {first: [change]}
        assert store.get(first).hotfix
        config = "sha256:" + "c" * 64
        for passed in (False, True, True):
            store.record_check(
                commit="a" * 40,
                config=config,
                passed=passed,
                started_at=T0,
                finished_at=T0,
                summary="5 passed",
            )
        found = store.check_passed("a" * 40, config)
        assert found is not None and (found.id, found.passed) == (2, True)
        assert store.checks_passed_at(["a" * 40]) == {"a" * 40: T0}


def test_two_senders_on_one_postgresql_history_send_each_message_once(pg_url: str) -> None:
    """Notifications (issue 14): claims are conditional UPDATEs, so two senders draining one
    outbox never send a row twice; enqueuers of one subject take turns for its sequence."""
    notices = [
        Notice(f"d-{n % 6}", "production", "started", "t", "b", ("json://h/x",)) for n in range(30)
    ]
    with receiving() as receiver, HistoryStore(pg_url) as store:
        target = (receiver.url,)

        def enqueue_one(notice: Notice) -> None:
            with store.transaction() as session:
                outbox.enqueue(session, [replace(notice, targets=target)])

        with ThreadPoolExecutor(4) as pool:
            list(pool.map(enqueue_one, notices))
        with store.transaction() as session:
            seqs = session.execute(select(OutboxRow.subject, OutboxRow.seq)).all()
        assert sorted(seqs) == sorted((f"d-{s}", q) for s in range(6) for q in range(1, 6))

        def drain(_: int) -> Drained:
            with HistoryStore(pg_url) as mine:
                return Sender(mine, Values({}).expand, policy=Policy(timeout=2.0)).drain(60)

        with ThreadPoolExecutor(2) as pool:
            done = list(pool.map(drain, range(2)))
        assert sum(d.sent for d in done) == 30
        assert len(receiver.received) == 30  # not one twice
        for subject in range(6):
            keys = [k for k in receiver.keys_in_order() if k.startswith(f"d-{subject}:")]
            assert keys == [f"d-{subject}:{q}" for q in range(1, 6)]
