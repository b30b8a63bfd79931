"""The outbox in the history database: written in the transaction of what it tells of,
claimed and settled by senders (`sender.py`), read by `conveyor notify status`.

One row per message and target. A row is sent only once every earlier row of its subject
and target is sent: a later message about a deploy never overtakes an earlier one, across
senders too, and a dead letter holds back the later messages of its subject to its target
until it is retried. A sender claims a row with one conditional UPDATE (still pending, no
live claim): of two senders, one changes the row and the other's UPDATE changes nothing;
the claim runs out after a lease, so a sender that died leaves the row to the next one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select, text, update
from sqlalchemy.orm import Session, aliased

from conveyor.errors import ConveyorError
from conveyor.history.engine import trim
from conveyor.history.models import OutboxRow
from conveyor.history.records import utcnow
from conveyor.notify.notice import Notice
from conveyor.notify.targets import shown

# PostgreSQL: two transactions enqueueing for one subject take turns (the seq is max + 1).
_PG_LOCK_CLASS = 0x6E6F7469  # "noti"; the second key is the subject's hash
TITLE_MAX = 300


def key(subject: str, seq: int) -> str:
    """A message's idempotency key: the same for each of its targets and at every attempt."""
    return f"{subject}:{seq}"


def enqueue(
    session: Session, notices: Iterable[Notice], *, now: datetime | None = None
) -> list[int]:
    """Write each notice to the outbox, one row per target, in `session`'s transaction (the
    one that records what it tells of: both are written, or neither); the rows' ids."""
    at = now or utcnow()
    ids: list[int] = []
    for notice in notices:
        targets = list(dict.fromkeys(notice.targets))
        if not targets:
            continue
        _take_turn(session, notice.subject)
        last = session.scalar(
            select(func.max(OutboxRow.seq)).where(OutboxRow.subject == notice.subject)
        )
        seq = (last or 0) + 1
        body = trim(f"{notice.body}\nmessage: {key(notice.subject, seq)}")
        rows = [
            OutboxRow(
                subject=notice.subject,
                seq=seq,
                environment=notice.environment,
                event=notice.event,
                target=target,
                title=notice.title[:TITLE_MAX],
                body=body,
                level=notice.level,
                status="pending",
                attempts=0,
                created_at=at,
                next_at=at,
            )
            for target in targets
        ]
        session.add_all(rows)
        session.flush()
        ids += [row.id for row in rows]
    return ids


@dataclass(frozen=True)
class Claimed:
    """A row a sender holds for one attempt."""

    id: int
    subject: str
    seq: int
    environment: str
    event: str
    target: str  # as written
    title: str
    body: str
    level: str
    attempts: int  # before this one

    @property
    def key(self) -> str:
        """The message's idempotency key."""
        return key(self.subject, self.seq)


def claim(session: Session, *, now: datetime, owner: str, lease: timedelta) -> Claimed | None:
    """The oldest row that is due, free and next in its order, now held by `owner`."""
    query = (
        select(OutboxRow.id)
        .where(OutboxRow.status == "pending", OutboxRow.next_at <= now, _free(now), _next())
        .order_by(OutboxRow.id)
        .limit(20)
    )
    for row_id in session.scalars(query).all():
        taken = session.connection().execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id, OutboxRow.status == "pending", _free(now))
            .values(claimed_by=owner, claimed_until=now + lease)
        )
        if taken.rowcount != 1:
            continue  # another sender took it between the two statements
        row = session.execute(
            select(OutboxRow)
            .where(OutboxRow.id == row_id)
            .execution_options(populate_existing=True)
        ).scalar_one()
        return Claimed(
            row.id,
            row.subject,
            row.seq,
            row.environment,
            row.event,
            row.target,
            row.title,
            row.body,
            row.level,
            row.attempts,
        )
    return None


def next_due(session: Session, *, now: datetime) -> datetime | None:
    """When the next row a sender could claim is due (None: none is waiting)."""
    return session.scalar(
        select(func.min(OutboxRow.next_at)).where(
            OutboxRow.status == "pending", _free(now), _next()
        )
    )


def mark_sent(session: Session, row_id: int, *, now: datetime) -> None:
    """The target confirmed the row: sent, whoever holds it now."""
    _set(session, row_id, status="sent", sent_at=now)


def mark_failed(
    session: Session,
    row_id: int,
    *,
    owner: str,
    error: str,
    retry_at: datetime,
    dead: bool,
    hold_target: bool = False,
) -> None:
    """An attempt that the target did not confirm: tried again at `retry_at`, or a dead
    letter; `hold_target`: the service asked to wait, so its other rows wait as long."""
    values: dict[str, Any] = {"last_error": trim(error), "next_at": retry_at}
    if dead:
        values["status"] = "dead"
    _set(session, row_id, owner=owner, **values)
    if hold_target:
        target = select(OutboxRow.target).where(OutboxRow.id == row_id).scalar_subquery()
        session.connection().execute(
            update(OutboxRow)
            .where(
                OutboxRow.target == target,
                OutboxRow.status == "pending",
                OutboxRow.next_at < retry_at,
            )
            .values(next_at=retry_at)
        )


def postpone(session: Session, row_id: int, *, owner: str, error: str, until: datetime) -> None:
    """This sender cannot send the row (a $VAR this machine lacks): left for another
    sender or a later try, its attempts unchanged."""
    _set(
        session,
        row_id,
        owner=owner,
        attempts=OutboxRow.attempts,
        last_error=trim(error),
        next_at=until,
    )


@dataclass(frozen=True)
class Letter:
    """A row as `conveyor notify status` shows it (its target shown, never expanded)."""

    id: int
    key: str
    environment: str
    event: str
    target: str
    status: str
    attempts: int
    created_at: datetime
    next_at: datetime
    last_error: str | None
    held_by: int | None = None  # an earlier row of its subject and target, not sent yet


@dataclass(frozen=True)
class Report:
    """What the outbox holds: rows to send (oldest first), dead letters, how many were sent."""

    pending: tuple[Letter, ...]
    dead: tuple[Letter, ...]
    sent: int


def report(session: Session) -> Report:
    """The outbox's pending rows and dead letters, and the count of rows sent."""
    rows = session.scalars(
        select(OutboxRow).where(OutboxRow.status != "sent").order_by(OutboxRow.id)
    ).all()
    first: dict[tuple[str, str], int] = {}
    pending: list[Letter] = []
    dead: list[Letter] = []
    for row in rows:
        held_by = first.setdefault((row.subject, row.target), row.id)
        letter = Letter(
            row.id,
            key(row.subject, row.seq),
            row.environment,
            row.event,
            shown(row.target),
            row.status,
            row.attempts,
            row.created_at,
            row.next_at,
            row.last_error,
            held_by if held_by != row.id else None,
        )
        (dead if row.status == "dead" else pending).append(letter)
    sent = session.scalar(select(func.count()).where(OutboxRow.status == "sent")) or 0
    return Report(tuple(pending), tuple(dead), sent)


def revive(session: Session, ids: Sequence[int] | None, *, now: datetime) -> list[int]:
    """Dead letters (those named, or all) back to pending, due now, attempts from 0."""
    if ids:
        named = select(OutboxRow.id, OutboxRow.status).where(OutboxRow.id.in_(ids))
        found = {row_id: status for row_id, status in session.execute(named)}
        for row_id in ids:
            if row_id not in found:
                raise ConveyorError(
                    f"no notification {row_id} in the outbox",
                    hint="conveyor notify status lists the dead letters and their ids",
                )
            if found[row_id] != "dead":
                raise ConveyorError(
                    f"notification {row_id} is {found[row_id]}, not a dead letter; "
                    "nothing was changed",
                    hint="conveyor notify send sends what is pending",
                )
    query = select(OutboxRow.id).where(OutboxRow.status == "dead")
    if ids:
        query = query.where(OutboxRow.id.in_(ids))
    revived = list(session.scalars(query.order_by(OutboxRow.id)))
    if revived:
        session.connection().execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(revived))
            .values(status="pending", attempts=0, next_at=now, claimed_by=None, claimed_until=None)
        )
    return revived


def count_pending(session: Session) -> int:
    """Rows not sent yet and not dead."""
    return session.scalar(select(func.count()).where(OutboxRow.status == "pending")) or 0


def _set(session: Session, row_id: int, *, owner: str | None = None, **values: Any) -> None:
    query = update(OutboxRow).where(OutboxRow.id == row_id, OutboxRow.status == "pending")
    if owner is not None:  # a sender whose claim ran out leaves the row to the new holder
        query = query.where(OutboxRow.claimed_by == owner)
    values = {
        "attempts": OutboxRow.attempts + 1,
        "claimed_by": None,
        "claimed_until": None,
        **values,
    }
    session.connection().execute(query.values(**values))


def _free(now: datetime) -> ColumnElement[bool]:
    return or_(OutboxRow.claimed_until.is_(None), OutboxRow.claimed_until < now)


def _next() -> ColumnElement[bool]:
    """No earlier row of the same subject and target is still unsent (pending or dead)."""
    earlier = aliased(OutboxRow)
    return ~exists().where(
        earlier.subject == OutboxRow.subject,
        earlier.target == OutboxRow.target,
        earlier.id < OutboxRow.id,
        earlier.status != "sent",
    )


def _take_turn(session: Session, subject: str) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return  # SQLite: the store's BEGIN IMMEDIATE already makes writers take turns
    digest = int.from_bytes(hashlib.sha256(subject.encode()).digest()[:4], "big", signed=True)
    session.execute(
        text("SELECT pg_advisory_xact_lock(:cls, :key)"), {"cls": _PG_LOCK_CLASS, "key": digest}
    )
