"""Backoff, Retry-After (seconds or an HTTP date) and which answers a later attempt can beat."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from conveyor.notify.policy import Policy, permanent, retry_after

NOW = datetime(2026, 11, 23, 15, 1, 2, tzinfo=timezone.utc)


def test_backoff_doubles_from_the_first_wait_up_to_the_cap() -> None:
    policy = Policy(first_wait=2.0, max_wait=30.0)
    assert [policy.wait(n) for n in range(1, 7)] == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_a_service_s_retry_after_wins_over_the_backoff_up_to_its_own_cap() -> None:
    policy = Policy(first_wait=2.0, max_retry_after=600.0)
    assert policy.wait(5, retry_after=1.0) == 1.0  # sooner than the backoff: it knows
    assert policy.wait(1, retry_after=90.0) == 90.0
    assert policy.wait(1, retry_after=86400.0) == 600.0
    assert policy.wait(1, retry_after=-3.0) == 0.0


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("Mon, 23 Nov 2026 15:01:32 GMT", 30.0),
        ("Mon, 23 Nov 2026 15:00:00 GMT", 0.0),  # already past: now
        ("soon", None),
        ("", None),
        (None, None),
        ("-5", None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(header: str | None, seconds: float | None) -> None:
    assert retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("status", "expected"),
    [(400, True), (401, True), (403, True), (404, True), (410, True), (408, False),
     (425, False), (429, False), (500, False), (503, False), (None, False), (302, False)],
)  # fmt: skip
def test_client_errors_but_timeouts_and_rate_limits_are_permanent(
    status: int | None, expected: bool
) -> None:
    assert permanent(status) is expected
