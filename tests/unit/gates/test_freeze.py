"""Freeze windows: pure time arithmetic (no real part is needed)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from conveyor.gates.freeze import frozen, parse

WEEKEND = "Fri 16:00-Mon 08:00 Asia/Seoul"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("at", "held"),
    [
        ("2026-12-04T06:59", False),  # Fri 15:59 in Seoul
        ("2026-12-04T07:00", True),  # Fri 16:00: the start is in
        ("2026-12-05T12:00", True),  # Sat
        ("2026-12-06T22:59", True),  # Mon 07:59
        ("2026-12-06T23:00", False),  # Mon 08:00: the end is out
        ("2026-12-08T03:00", False),  # Tue
    ],
)
def test_a_weekly_window_wraps_over_the_weekend_in_its_own_time_zone(at: str, held: bool) -> None:
    assert parse(WEEKEND).holds(utc(at)) is held


def test_a_window_once_holds_between_its_dates() -> None:
    window = "2026-12-24 18:00-2026-12-27 08:00 Europe/Berlin"
    assert frozen([WEEKEND, window], utc("2026-12-24T16:59")) is None  # Thu 17:59 Berlin
    assert frozen([WEEKEND, window], utc("2026-12-24T17:00")) == window
    assert frozen([WEEKEND, window], utc("2026-12-26T00:00")) == WEEKEND  # the first that holds


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("Fri 16:00 to Mon 08:00", "is not a freeze window; write e.g."),
        ("Fri 16:00-Mon 08:00", "is not a freeze window"),  # no time zone
        ("Fri 16:00-Mon 08:00 Seoul", "unknown time zone 'Seoul'"),
        ("Fry 16:00-Mon 08:00 UTC", "'Fry' is not a day"),
        ("Fri 25:00-Mon 08:00 UTC", "25:00 is not a time of day"),
        ("Fri 16:00-Fri 16:00 UTC", "starts and ends at the same moment"),
        ("2026-12-27 08:00-2026-12-24 18:00 UTC", "ends before it starts"),
        ("2026-02-30 08:00-2026-03-01 18:00 UTC", "day is out of range"),
    ],
)
def test_a_window_that_cannot_be_read_says_what_is_wrong(text: str, said: str) -> None:
    with pytest.raises(ValueError, match=said):
        parse(text)
