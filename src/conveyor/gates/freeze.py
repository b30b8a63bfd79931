"""Freeze windows: when production deploys wait unless an approval overrides the freeze.

Two forms, each with its time zone (IANA name, e.g. Asia/Seoul), written as a person says it:

    "Fri 16:00-Mon 08:00 Asia/Seoul"                   every week
    "2026-12-24 18:00-2026-12-27 08:00 Europe/Berlin"  once

A window includes its start and excludes its end. Written by hand: cron expressions
(croniter) name instants, not spans, and no maintained library parses such spans.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKLY = re.compile(
    r"^(?P<d1>[A-Za-z]{3})\s+(?P<t1>\d{1,2}:\d{2})\s*-\s*(?P<d2>[A-Za-z]{3})\s+"
    r"(?P<t2>\d{1,2}:\d{2})\s+(?P<tz>\S+)$"
)
_ONCE = re.compile(
    r"^(?P<s>\d{4}-\d{2}-\d{2}\s+\d{1,2}:\d{2})\s*-\s*(?P<e>\d{4}-\d{2}-\d{2}\s+\d{1,2}:\d{2})"
    r"\s+(?P<tz>\S+)$"
)
_WEEK = 7 * 24 * 60
EXAMPLE = '"Fri 16:00-Mon 08:00 Asia/Seoul" or "2026-12-24 18:00-2026-12-27 08:00 UTC"'


@dataclass(frozen=True)
class Window:
    """One freeze window as written, parsed."""

    text: str
    zone: ZoneInfo
    weekly: tuple[int, int] | None = None  # minutes since Monday 00:00: start, end
    once: tuple[datetime, datetime] | None = None

    def holds(self, now: datetime) -> bool:
        """True when `now` (aware) falls in the window."""
        local = now.astimezone(self.zone)
        if self.once is not None:
            begins, ends = self.once
            return begins <= local < ends
        assert self.weekly is not None
        start, end = self.weekly
        minute = local.weekday() * 24 * 60 + local.hour * 60 + local.minute
        return start <= minute < end if start < end else minute >= start or minute < end


def parse(text: str) -> Window:
    """A window from its text; ValueError saying what is wrong and what is expected."""
    spoken = " ".join(text.split())
    weekly, once = _WEEKLY.match(spoken), _ONCE.match(spoken)
    found = weekly or once
    if found is None:
        raise ValueError(f"{text!r} is not a freeze window; write e.g. {EXAMPLE}")
    try:
        zone = ZoneInfo(found["tz"])
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"{text!r}: unknown time zone {found['tz']!r}; use an IANA name such as "
            "Asia/Seoul or UTC"
        ) from None
    if weekly is not None:
        start = _minute(weekly["d1"], weekly["t1"], text)
        end = _minute(weekly["d2"], weekly["t2"], text)
        if start == end:
            raise ValueError(f"{text!r} starts and ends at the same moment")
        return Window(text, zone, weekly=(start, end))
    assert once is not None
    try:
        start_at = datetime.strptime(once["s"], "%Y-%m-%d %H:%M").replace(tzinfo=zone)
        end_at = datetime.strptime(once["e"], "%Y-%m-%d %H:%M").replace(tzinfo=zone)
    except ValueError as error:
        raise ValueError(f"{text!r}: {error}") from None
    if end_at <= start_at:
        raise ValueError(f"{text!r} ends before it starts")
    return Window(text, zone, once=(start_at, end_at))


def frozen(windows: list[str], now: datetime) -> str | None:
    """The first window `now` falls in, as written, or None."""
    for text in windows:
        if parse(text).holds(now):
            return text
    return None


def _minute(day: str, clock: str, text: str) -> int:
    if day.lower() not in DAYS:
        raise ValueError(f"{text!r}: {day!r} is not a day; use {', '.join(DAYS)}")
    hour, minute = (int(part) for part in clock.split(":"))
    if hour > 23 or minute > 59:
        raise ValueError(f"{text!r}: {clock} is not a time of day")
    return (DAYS.index(day.lower()) * 24 * 60 + hour * 60 + minute) % _WEEK
