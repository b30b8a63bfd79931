"""One attempt through apprise to the local receiver: what the service answered, seen through
requests' transport adapter (status, Retry-After), and the idempotency key it carries."""

from __future__ import annotations

import socket

from conveyor.notify.delivery import deliver, with_key
from tests.unit.notify.receiver import HANG, Receiver, Reply

SEND = {"title": "production: 1.4.0 deployed", "body": "by: alice", "level": "success"}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_key_goes_in_a_header_where_the_service_takes_headers() -> None:
    assert with_key("json://h:1/hook", "d-1:2") == "json://h:1/hook?%2BIdempotency-Key=d-1%3A2"
    assert (
        with_key("jsons://h/hook?method=PUT", "k")
        == "jsons://h/hook?method=PUT&%2BIdempotency-Key=k"
    )
    assert with_key("slack://T/B/C", "k") == "slack://T/B/C"


def test_a_confirmed_message_carries_its_key_title_and_body(receiver: Receiver) -> None:
    answer = deliver(receiver.url, key="d-1:2", timeout=5, **SEND)
    assert (answer.ok, answer.status) == (True, 200)
    [got] = receiver.received
    assert (got.key, got.title, got.message, got.path) == (
        "d-1:2",
        SEND["title"],
        "by: alice",
        "/hook",
    )


def test_the_status_and_retry_after_of_a_refusal_are_seen(receiver: Receiver) -> None:
    receiver.script = [Reply(429, {"Retry-After": "7"}), Reply(500), Reply(404)]
    first = deliver(receiver.url, key="k", timeout=5, **SEND)
    assert (first.ok, first.status, first.retry_after, first.permanent) == (False, 429, "7", False)
    assert first.error == "answered HTTP 429 Too Many Requests (Retry-After: 7)"
    second = deliver(receiver.url, key="k", timeout=5, **SEND)
    assert (second.error, second.retry_after, second.permanent) == (
        "answered HTTP 500 Internal Server Error", None, False,
    )  # fmt: skip
    assert deliver(receiver.url, key="k", timeout=5, **SEND).permanent


def test_no_answer_in_time_is_a_timeout(receiver: Receiver) -> None:
    receiver.script = [Reply(HANG)]
    answer = deliver(receiver.url, key="k", timeout=0.5, **SEND)
    assert (answer.ok, answer.error, answer.permanent) == (False, "no answer within 0.5s", False)
    assert len(receiver.received) == 1  # it got there: the key lets the service drop a repeat


def test_a_service_that_is_down_is_said_without_its_url() -> None:
    answer = deliver(f"json://127.0.0.1:{closed_port()}/hook-s3cret", key="k", timeout=5, **SEND)
    assert (answer.ok, answer.error, answer.permanent) == (
        False, "could not connect: Connection refused", False,
    )  # fmt: skip


def test_a_url_apprise_cannot_use_is_permanent() -> None:
    answer = deliver("nosuchservice://x/y", key="k", timeout=5, **SEND)
    assert answer == type(answer)(
        False, "apprise cannot use this URL (unknown scheme or a part missing)", permanent=True
    )


def test_outside_an_attempt_requests_are_only_passed_on(receiver: Receiver) -> None:
    import requests

    deliver(receiver.url, key="k", timeout=5, **SEND)  # installs the observer
    assert requests.post(receiver.url.replace("json://", "http://"), timeout=5).status_code == 200
