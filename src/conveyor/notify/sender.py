"""Deliver what the outbox holds: at least once, in order, within a time budget.

`Sender.drain` claims the oldest row that is due (`outbox.claim`), expands its target,
sends it (`delivery.deliver`) with no transaction open, and marks it sent only once the
service confirmed it. A row the service did not confirm is tried again after a backoff, or
when the service's Retry-After says (every row to that target waits as long), and becomes
a dead letter after `Policy.max_attempts` or at once when a later attempt cannot do better
(a 404, a $VAR that is not set). A row may reach its service twice (an answer lost on the
way back, a sender that died before marking it): each carries its idempotency key, in a
header where the service takes headers and in the body.

Time is injected: `clock` (aware UTC, the store's) and `sleep`, so tests wait for nothing.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from conveyor.errors import ConveyorError
from conveyor.history.records import utcnow
from conveyor.history.store import HistoryStore
from conveyor.notify import outbox
from conveyor.notify.delivery import Answer, deliver
from conveyor.notify.policy import WAIT_STATUSES, Policy, retry_after
from conveyor.notify.targets import Expand, shown

# An attempt given less time than this would only time out: left for the next drain.
MIN_ATTEMPT = 1.0
Deliver = Callable[..., Answer]


# How long a row whose target needs a $VAR this machine lacks waits before anyone tries again.
UNSET_WAIT = timedelta(minutes=5)


@dataclass
class Drained:
    """What one drain did, and what it left."""

    sent: int = 0
    retried: int = 0  # attempts that failed and will be tried again
    dead: int = 0  # rows that became dead letters
    left: int = 0  # rows still pending afterwards
    errors: list[str] = field(default_factory=list)  # "target: error", masked, in order


@dataclass
class Sender:
    """Sends the outbox of `store`, expanding targets with `expand`."""

    store: HistoryStore
    expand: Expand
    policy: Policy = field(default_factory=Policy)
    clock: Callable[[], datetime] = utcnow
    sleep: Callable[[float], None] = time.sleep
    deliver: Deliver = deliver
    owner: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
    )

    def drain(self, budget: float) -> Drained:
        """Send what is due, waiting for what falls due, for at most about `budget` seconds
        (an attempt under way is not cut short by more than its own timeout)."""
        done = Drained()
        deadline = self.clock() + timedelta(seconds=budget)
        while True:
            now = self.clock()
            left = (deadline - now).total_seconds()
            if left < MIN_ATTEMPT:
                break
            lease = timedelta(seconds=self.policy.timeout + self.policy.lease)
            with self.store.transaction() as session:
                row = outbox.claim(session, now=now, owner=self.owner, lease=lease)
                due = None if row is not None else outbox.next_due(session, now=now)
            if row is not None:
                self._attempt(row, min(self.policy.timeout, left), done)
                continue
            if due is None or due > deadline:
                break
            self.sleep(max((due - now).total_seconds(), 0.0))
        with self.store.transaction() as session:
            done.left = outbox.count_pending(session)
        return done

    def _attempt(self, row: outbox.Claimed, timeout: float, done: Drained) -> None:
        """One attempt at one claimed row, settled in its own transaction."""
        try:
            target = self.expand(row.environment, row.target)
        except ConveyorError as unset:
            # Another machine (a shared history) may have the value: no attempt is spent.
            error = f"{shown(row.target)}: {unset.message}; left for a sender that has it"
            with self.store.transaction() as session:
                outbox.postpone(
                    session,
                    row.id,
                    owner=self.owner,
                    error=error,
                    until=self.clock() + UNSET_WAIT,
                )
            done.errors.append(error)
            done.retried += 1
            return
        else:
            try:
                answer = self.deliver(
                    target.url,
                    title=row.title,
                    body=row.body,
                    level=row.level,
                    key=row.key,
                    timeout=timeout,
                )
            except Exception as crash:  # one message that breaks apprise must not stop the rest
                answer = Answer(False, f"{type(crash).__name__}: {crash}")
        now = self.clock()
        with self.store.transaction() as session:
            if answer.ok:
                outbox.mark_sent(session, row.id, now=now)
                done.sent += 1
                return
            attempts = row.attempts + 1
            asked = (
                retry_after(answer.retry_after, now=now) if answer.status in WAIT_STATUSES else None
            )
            dead = answer.permanent or attempts >= self.policy.max_attempts
            error = target.mask(f"{shown(row.target)}: {answer.error}")
            outbox.mark_failed(
                session,
                row.id,
                owner=self.owner,
                error=error,
                retry_at=now + timedelta(seconds=self.policy.wait(attempts, asked)),
                dead=dead,
                hold_target=asked is not None,
            )
        done.errors.append(error)
        if dead:
            done.dead += 1
        else:
            done.retried += 1
