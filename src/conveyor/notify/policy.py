"""When a message that was not confirmed is tried again, and when it becomes a dead letter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

# A client error that a later attempt may not get: the request itself was fine.
TRANSIENT_CLIENT = frozenset({408, 425, 429})
# Statuses whose Retry-After says when the service will take the message.
WAIT_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class Policy:
    """Backoff doubles from `first_wait` up to `max_wait`; a service's own Retry-After wins
    (up to `max_retry_after`); after `max_attempts` a message is a dead letter. `timeout`
    bounds one attempt; `lease` how long a claim keeps other senders off a row beyond it."""

    max_attempts: int = 10
    first_wait: float = 2.0
    max_wait: float = 300.0
    max_retry_after: float = 3600.0
    timeout: float = 10.0
    lease: float = 60.0

    def wait(self, attempts: int, retry_after: float | None = None) -> float:
        """Seconds before the next attempt, after `attempts` of them failed."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return min(self.max_wait, self.first_wait * 2.0 ** max(attempts - 1, 0))


def retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds a Retry-After header asks for: a number of seconds or an HTTP date (from
    `now`); None when there is none or it cannot be read."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110's HTTP date is GMT
        when = when.replace(tzinfo=timezone.utc)
    return max((when - now).total_seconds(), 0.0)


def permanent(status: int | None) -> bool:
    """An answer that a later attempt would get again: a client error (400, 401, 403, 404,
    410...) other than a timeout, "too early" or "too many requests"."""
    return status is not None and 400 <= status < 500 and status not in TRANSIENT_CLIENT
