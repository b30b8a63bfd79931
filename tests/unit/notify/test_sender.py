"""The sender against a local receiver scripted to refuse (500), to ask for time (429 with
Retry-After, in seconds or as a date), to hang past the sender's timeout, and to go down and
come back on the same port: nothing lost, nothing twice once deduplicated by key, each
deploy's messages in order. Time is the test's clock; the sleeper moves it."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

from sqlalchemy import text

from conveyor.history.records import utcnow
from conveyor.history.store import HistoryStore
from conveyor.notify import outbox
from conveyor.notify.delivery import Answer
from conveyor.notify.notice import Notice
from conveyor.notify.policy import Policy
from conveyor.notify.sender import Sender
from conveyor.notify.targets import Values
from conveyor.settings.secrets import MASK
from tests.unit.history.conftest import Clock
from tests.unit.notify.conftest import Sleeper, config_of, open_store, record
from tests.unit.notify.receiver import HANG, Receiver, Reply

EVERY = 'on = ["started", "succeeded", "failed", "rolled_back"]\n'
QUICK = Policy(timeout=0.5, max_attempts=10)


def sender(store: HistoryStore, tmp_path: Path, clock: Clock, sleeper: Sleeper,
           policy: Policy = QUICK, environ: dict[str, str] | None = None) -> Sender:  # fmt: skip
    values = Values({"production": tmp_path / ".env.production"}, environ or {"HOOK": "hook"})
    return Sender(store, values.expand, policy=policy, clock=clock, sleep=sleeper)


def in_order(receiver: Receiver, subject: str) -> list[str]:
    """The subject's keys in the order they first arrived."""
    return [key for key in receiver.keys_in_order() if key.startswith(subject + ":")]


def confirmed(receiver: Receiver) -> Counter[str]:
    """How many times each key was answered 200."""
    return Counter(r.key for r in receiver.received if r.answered == 200 and r.key)


def test_every_message_arrives_once_and_in_order_through_429s_a_500_a_hang_and_a_restart(
    tmp_path: Path, clock: Clock, sleeper: Sleeper, receiver: Receiver
) -> None:
    target = f"json://127.0.0.1:{receiver.port}/$HOOK"
    store = open_store(tmp_path, clock, config_of(tmp_path, f'targets = ["{target}"]\n' + EVERY))
    first, second = record(store), record(store, version="1.5.0")
    clock.advance(30)
    store.finish(first, status="succeeded", message="production now runs 1.4.0")
    store.finish(second, status="rolled_back", message="deploy of 1.5.0 failed: health")
    until = clock.now + timedelta(seconds=400)
    receiver.script = [
        Reply(429, {"Retry-After": "2"}),
        Reply(500),
        Reply(HANG),
        Reply(429, {"Retry-After": format_datetime(until, usegmt=True)}),
    ]
    woke, down = [], threading.Event()

    def then(count: int) -> None:  # after the hang, the next wait takes it down, the next up
        woke.append(clock.now)
        if not down.is_set() and any(r.answered == HANG for r in receiver.received):
            receiver.stop()
            down.set()
        elif down.is_set() and receiver.port and not receiver.up:
            receiver.start()

    sleeper.then = then
    done = sender(store, tmp_path, clock, sleeper).drain(3600)

    expected = [f"{first}:1", f"{second}:1", f"{first}:2", f"{second}:2"]
    assert sorted(receiver.keys_in_order()) == sorted(expected)  # none lost
    assert confirmed(receiver) == dict.fromkeys(expected, 1)  # each confirmed exactly once
    assert in_order(receiver, first) == [f"{first}:1", f"{first}:2"]
    assert in_order(receiver, second) == [f"{second}:1", f"{second}:2"]
    assert (done.sent, done.dead, done.left) == (4, 0, 0)
    assert sleeper.slept[0] == 2.0  # the first Retry-After, in seconds
    assert until in woke  # the second, a date: waited for to the second
    said = "\n".join(done.errors)
    for error in ("answered HTTP 429 Too Many Requests (Retry-After: 2)",
                  "answered HTTP 500 Internal Server Error", "no answer within 0.5s",
                  "could not connect: Connection refused"):  # fmt: skip
        assert f"json://127.0.0.1:{receiver.port}/$HOOK: {error}" in said
    with store.transaction() as session:
        report = outbox.report(session)
    assert (report.sent, report.pending, report.dead) == (4, (), ())
    assert receiver.received[-1].path == "/hook"
    store.close()


def test_a_one_second_retry_after_is_waited_for_for_real(
    tmp_path: Path, receiver: Receiver
) -> None:
    config = config_of(tmp_path, f'targets = ["{receiver.url}"]\non = ["started"]\n')
    store = open_store(tmp_path, Clock(), config)
    store._clock = Clock(Clock().now - timedelta(days=1))  # due long ago, by the real clock
    record(store)
    receiver.script = [Reply(429, {"Retry-After": "1"})]
    done = Sender(store, Values({}).expand, policy=QUICK).drain(30)
    assert (done.sent, done.left) == (1, 0)
    refused, taken = receiver.received
    assert (refused.answered, taken.answered, taken.key) == (429, 200, refused.key)
    assert taken.at - refused.at >= 1.0
    store.close()


def test_a_message_that_keeps_failing_is_a_dead_letter_until_retried(
    tmp_path: Path, clock: Clock, sleeper: Sleeper, receiver: Receiver
) -> None:
    target = f"json://127.0.0.1:{receiver.port}/$HOOK"
    store = open_store(tmp_path, clock, config_of(tmp_path, f'targets = ["{target}"]\n' + EVERY))
    deploy_id = record(store)
    store.finish(deploy_id, status="failed", message="deploy of 1.4.0 failed")
    receiver.script = [Reply(500)] * 3
    done = sender(store, tmp_path, clock, sleeper, Policy(timeout=0.5, max_attempts=3)).drain(3600)
    assert (done.sent, done.retried, done.dead, done.left) == (0, 2, 1, 1)
    assert sleeper.slept == [2.0, 4.0]  # backoff, doubling
    with store.transaction() as session:
        report = outbox.report(session)
    [dead] = report.dead
    assert (dead.key, dead.attempts, dead.target) == (f"{deploy_id}:1", 3, target)
    assert dead.last_error == f"{target}: answered HTTP 500 Internal Server Error"
    [held] = report.pending
    assert (held.key, held.held_by, held.attempts) == (f"{deploy_id}:2", dead.id, 0)
    assert receiver.keys_in_order() == [f"{deploy_id}:1"]  # the later message waited

    with store.transaction() as session:
        assert outbox.revive(session, [dead.id], now=clock.now) == [dead.id]
    done = sender(store, tmp_path, clock, sleeper).drain(3600)
    assert (done.sent, done.dead, done.left) == (2, 0, 0)
    assert receiver.keys_in_order() == [f"{deploy_id}:1", f"{deploy_id}:2"]
    store.close()


def test_an_answer_a_later_attempt_cannot_beat_is_a_dead_letter_at_once(
    tmp_path: Path, clock: Clock, sleeper: Sleeper, receiver: Receiver
) -> None:
    """A 404 is dead at once; a $VAR this machine lacks is left, attempts unspent, for a
    sender that has it (several machines share a PostgreSQL history)."""
    targets = f'targets = ["{receiver.url}", "json://127.0.0.1:{receiver.port}/$UNSET"]\n'
    store = open_store(tmp_path, clock, config_of(tmp_path, targets + 'on = ["started"]\n'))
    record(store)
    receiver.script = [Reply(404)]
    done = sender(store, tmp_path, clock, sleeper).drain(60)
    assert (done.sent, done.dead, sleeper.slept) == (0, 1, [])
    assert done.errors == [
        f"json://127.0.0.1:{receiver.port}/{MASK}: answered HTTP 404 Not Found",
        f"json://127.0.0.1:{receiver.port}/$UNSET: $UNSET is not set for production "
        "(not in .env.production, not in conveyor's environment); left for a sender that has it",
    ]
    with store.transaction() as session:
        report = outbox.report(session)
    assert [(r.status, r.attempts) for r in report.pending] == [("pending", 0)]
    store.close()


def test_a_secret_in_a_target_s_variable_is_never_stored_or_said(
    tmp_path: Path, clock: Clock, sleeper: Sleeper, receiver: Receiver
) -> None:
    path_secret, password = "hook-Zx8kq2LmP0vR7tY3wQ9n", "Pw-4cH6jF1sD5gQ9nB4c"
    (tmp_path / ".env.production").write_text(
        f"HOOK_PATH={path_secret}\nHOOK_PASSWORD={password}\n"
    )
    target = f"json://conveyor:$HOOK_PASSWORD@127.0.0.1:{receiver.port}/$HOOK_PATH"
    store = open_store(tmp_path, clock, config_of(tmp_path, f'targets = ["{target}"]\n' + EVERY))
    deploy_id = record(store)
    store.finish(deploy_id, status="failed", message="deploy of 1.4.0 failed")
    receiver.script = [Reply(500)]

    def then(count: int) -> None:
        if count == 1:
            receiver.stop()  # the next attempt cannot connect

    sleeper.then = then
    done = sender(store, tmp_path, clock, sleeper, Policy(timeout=0.5, max_attempts=2)).drain(3600)
    assert receiver.received[0].path == f"/{path_secret}"  # it was expanded to be sent
    assert done.dead == 1 and len(done.errors) == 2
    with store.transaction() as session:
        stored = session.execute(text("SELECT * FROM conveyor_notify_outbox")).all()
        report = outbox.report(session)
    everything = "\n".join([repr(stored), repr(report), *done.errors])
    assert path_secret not in everything and password not in everything
    assert "$HOOK_PATH" in everything
    store.close()


def test_two_senders_on_one_history_send_each_message_once(
    tmp_path: Path, receiver: Receiver
) -> None:
    store = open_store(tmp_path, Clock(Clock().now - timedelta(days=1)))
    with store.transaction() as session:
        for number in range(12):
            outbox.enqueue(
                session,
                [
                    Notice(f"d-{number}", "production", event, "t", "b", (receiver.url,))
                    for event in ("started", "succeeded")
                ],
            )
    store.close()
    start = threading.Barrier(2)
    results = []

    def drain() -> None:
        with open_store(tmp_path, Clock()) as mine:
            start.wait()
            results.append(Sender(mine, Values({}).expand, policy=QUICK, clock=_now).drain(60))

    threads = [threading.Thread(target=drain) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(r.sent for r in results) == 24
    assert len(receiver.received) == 24  # not one sent twice
    assert confirmed(receiver) == {f"d-{n}:{s}": 1 for n in range(12) for s in (1, 2)}
    for number in range(12):
        assert in_order(receiver, f"d-{number}") == [f"d-{number}:1", f"d-{number}:2"]


def _now() -> datetime:
    return utcnow()


def test_an_attempt_that_raises_is_a_failed_attempt_and_the_rest_goes_on(
    tmp_path: Path, clock: Clock, sleeper: Sleeper
) -> None:
    store = open_store(tmp_path, clock)
    with store.transaction() as session:
        outbox.enqueue(
            session,
            [Notice("d-1", "production", "failed", "t", "b", ("json://a/$HOOK",))],
            now=clock.now,
        )
        outbox.enqueue(
            session,
            [Notice("d-2", "production", "failed", "t", "b", ("json://b/x",))],
            now=clock.now,
        )
    calls: list[str] = []

    def deliver(url: str, **_: object) -> Answer:
        calls.append(url)
        if url.startswith("json://a/"):
            raise RuntimeError(f"broken plugin for {url}")
        return Answer(True, status=200)

    drain = Sender(store, Values({}, {"HOOK": "s3cret-hook"}).expand, clock=clock, sleep=sleeper,
                   deliver=deliver, policy=Policy(max_attempts=1)).drain(60)  # fmt: skip
    assert calls == ["json://a/s3cret-hook", "json://b/x"]
    assert (drain.sent, drain.dead) == (1, 1)
    assert drain.errors == ["json://a/$HOOK: RuntimeError: broken plugin for json://a/$HOOK"]
    store.close()
