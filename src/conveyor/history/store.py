"""The deploy history store: one transaction per call, SQLite by default, PostgreSQL by URL."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from conveyor.errors import ConveyorError
from conveyor.history.commits import CommitRecords, event_of
from conveyor.history.engine import open_engine, trim
from conveyor.history.models import FINAL_STATUSES, KINDS, STATUSES, DeployRow, EventRow
from conveyor.history.records import (
    URL_VARIABLE,
    Change,
    CheckRecord,
    DeployEvent,
    DeployRecord,
    Value,
    default_path,
    utcnow,
)
from conveyor.history.writer import EventWriter, Queued

if TYPE_CHECKING:
    from conveyor.notify.notices import Announce

__all__ = [
    "URL_VARIABLE",
    "Change",
    "CheckRecord",
    "DeployEvent",
    "DeployRecord",
    "HistoryStore",
    "default_path",
    "utcnow",
]


class HistoryStore(CommitRecords):
    """Records deploys and their events; reads them back newest first. The commits each
    deploy brought and check results are `CommitRecords`' (`commits.py`).

    `announce` (conveyor.notify.notices.announcer) gives the notifications of a record that
    starts or finishes: they go to the outbox in the transaction that writes the record."""

    def __init__(
        self,
        url: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        announce: Announce | None = None,
    ) -> None:
        """Open (and migrate) the database at `url`; `clock` is for tests."""
        self._engine, self.shown = open_engine(url)
        self._clock = clock
        self._announce = announce
        self._writer = EventWriter(
            lambda q: self.event(
                q.deploy_id,
                kind=q.kind,
                message=q.message,
                host=q.host,
                fields=q.fields,
                seconds=q.seconds,
            )
        )

    @classmethod
    def for_project(cls, root: Path, *, announce: Announce | None = None) -> HistoryStore:
        """The project's store: $CONVEYOR_HISTORY_URL, else <root>/.conveyor/history.db."""
        url = os.environ.get(URL_VARIABLE)
        if url:
            return cls(url, announce=announce)
        path = default_path(root)
        path.parent.mkdir(parents=True, exist_ok=True)
        return cls(f"sqlite:///{path}", announce=announce)

    def start(
        self,
        *,
        environment: str,
        kind: str,
        release: str,
        version: str,
        commit: str,
        hosts: Sequence[str],
        user: str,
        machine: str,
        message: str = "",
        hotfix: bool = False,
    ) -> str:
        """Record a deploy as running and return its new id; `hotfix`: an unplanned deploy
        made because of an incident."""
        _check("kind", kind, KINDS)
        if not environment:
            raise ConveyorError("cannot record a deploy without an environment name")
        for _attempt in range(5):
            now = self._clock()
            # Sortable by eye; four random hex digits keep two deploys in one second apart.
            deploy_id = f"d-{now.astimezone(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
            row = DeployRow(
                id=deploy_id,
                environment=environment,
                kind=kind,
                release=release,
                version=version,
                commit=commit,
                status="running",
                user=user,
                machine=machine,
                started_at=now,
                finished_at=None,
                message=trim(message),
                cause=None,
                hosts=list(hosts),
                hotfix=hotfix,
            )
            try:
                with self._session() as session, session.begin():
                    session.add(row)
                    self._notify(session, row, failed_on=(), now=now)
            except IntegrityError:
                continue  # the same id drawn twice in one second: draw again
            return deploy_id
        raise ConveyorError(f"could not allocate a deploy id in {self.shown}")

    def finish(
        self,
        deploy_id: str,
        *,
        status: str,
        message: str,
        cause: str | None = None,
        release: str | None = None,
        version: str | None = None,
    ) -> None:
        """Record how a running deploy ended (`message` replaces the start one); once only.

        `release` / `version`: what it turned out to deploy, when that was known only at
        the end (a rollback learns it from the hosts)."""
        # Its events first: a finished record has every one, or says which it lacks.
        lost = self._writer.flush()
        if lost:
            message += f" (the history could not record {len(lost)} event(s): {lost[0]})"
        _check("status", status, FINAL_STATUSES)
        with self._session() as session, session.begin():
            row = session.get(DeployRow, deploy_id, with_for_update=True)
            if row is None:
                raise self._unknown(deploy_id)
            if row.status != "running":
                raise ConveyorError(
                    f"deploy {deploy_id} already finished as {row.status}; not recording {status}",
                    hint="a deploy is finished once; record what followed as events",
                )
            row.status = status
            row.finished_at = finished = self._clock()
            row.message = trim(message)
            row.cause = None if cause is None else trim(cause)
            if release is not None:
                row.release = release
            if version is not None:
                row.version = version
            if self._announce is not None:
                self._notify(session, row, failed_on=_failed_on(session, deploy_id), now=finished)

    def event(
        self,
        deploy_id: str,
        *,
        kind: str,
        message: str,
        host: str | None = None,
        fields: Mapping[str, Value] | None = None,
        seconds: float | None = None,
    ) -> None:
        """Append one event to a deploy's timeline, with its structured values (`fields`,
        kept as JSON) and, for a finished step, how long it took."""
        if not kind or len(kind) > 64:
            raise ConveyorError(f"event kind must be 1 to 64 characters, got {kind!r}")
        with self._session() as session, session.begin():
            if session.get(DeployRow, deploy_id) is None:
                raise self._unknown(deploy_id)
            session.add(
                EventRow(
                    deploy_id=deploy_id,
                    at=self._clock(),
                    host=host,
                    kind=kind,
                    message=trim(message),
                    fields=json.dumps(dict(fields), sort_keys=True) if fields else None,
                    seconds=seconds,
                )
            )

    def get(self, deploy_id: str) -> DeployRecord:
        """One deploy by id."""
        with self._session() as session, session.begin():
            row = session.get(DeployRow, deploy_id)
            if row is None:
                raise self._unknown(deploy_id)
            return _record(row)

    def deploys(self, environment: str | None = None, *, limit: int = 20) -> list[DeployRecord]:
        """The latest `limit` deploys, of one environment or all, newest first."""
        if limit < 0:
            raise ConveyorError(f"limit must be 0 or more, got {limit}")
        query = select(DeployRow)
        if environment is not None:
            query = query.where(DeployRow.environment == environment)
        query = query.order_by(DeployRow.started_at.desc(), DeployRow.id.desc()).limit(limit)
        with self._session() as session, session.begin():
            return [_record(row) for row in session.scalars(query)]

    def in_use(self, *, scanned: int = 200) -> set[str]:
        """The releases hosts may serve or go back to: in each environment, the two newest
        distinct releases that a succeeded deploy or rollback made live (among the newest
        `scanned` records)."""
        query = (
            select(DeployRow)
            .where(DeployRow.status == "succeeded", DeployRow.kind.in_(("deploy", "rollback")))
            .order_by(DeployRow.started_at.desc(), DeployRow.id.desc())
            .limit(scanned)
        )
        found: dict[str, list[str]] = {}
        with self._session() as session, session.begin():
            for row in session.scalars(query):
                seen = found.setdefault(row.environment, [])
                # A rollback whose hosts went back to different releases names them all.
                for release in filter(None, row.release.split(", ")):
                    if release not in seen and len(seen) < 2:
                        seen.append(release)
        return {release for releases in found.values() for release in releases}

    def between(
        self, environment: str | None, *, since: datetime, until: datetime
    ) -> list[DeployRecord]:
        """Deploys started in (since, until], of one environment or all, oldest first."""
        query = select(DeployRow).where(DeployRow.started_at > since, DeployRow.started_at <= until)
        if environment is not None:
            query = query.where(DeployRow.environment == environment)
        query = query.order_by(DeployRow.started_at, DeployRow.id)
        with self._session() as session, session.begin():
            return [_record(row) for row in session.scalars(query)]

    def events(self, deploy_id: str) -> list[DeployEvent]:
        """A deploy's events in the order they were recorded."""
        query = select(EventRow).where(EventRow.deploy_id == deploy_id)
        with self._session() as session, session.begin():
            if session.get(DeployRow, deploy_id) is None:
                raise self._unknown(deploy_id)
            rows = session.scalars(query.order_by(EventRow.at, EventRow.id))
            return [event_of(r) for r in rows]

    def last(
        self, environment: str, *, status: str = "succeeded", kind: str | None = None
    ) -> DeployRecord | None:
        """The newest deploy of an environment with this status (and kind), or None."""
        _check("status", status, STATUSES)
        query = select(DeployRow).where(
            DeployRow.environment == environment, DeployRow.status == status
        )
        if kind is not None:
            _check("kind", kind, KINDS)
            query = query.where(DeployRow.kind == kind)
        query = query.order_by(DeployRow.started_at.desc(), DeployRow.id.desc()).limit(1)
        with self._session() as session, session.begin():
            row = session.scalars(query).first()
            return None if row is None else _record(row)

    def event_later(
        self,
        deploy_id: str,
        *,
        kind: str,
        message: str,
        host: str | None = None,
        fields: Mapping[str, Value] | None = None,
        seconds: float | None = None,
    ) -> None:
        """Queue one event for the writer thread (`history/writer.py`): the caller, an event
        loop, never waits on the database; `finish` and `close` write the queue first."""
        self._writer.put(Queued(deploy_id, kind, message, host, fields, seconds))

    def close(self) -> None:
        """Write what is queued, then release the database connections."""
        try:
            self._writer.stop()
        finally:
            self._engine.dispose()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction, committed when the block ends without an error."""
        with self._session() as session, session.begin():
            yield session

    def _session(self) -> Session:
        return Session(self._engine, expire_on_commit=False)

    def _notify(
        self, session: Session, row: DeployRow, *, failed_on: Sequence[str], now: datetime
    ) -> None:
        """The record's notifications into the outbox, in the record's own transaction."""
        if self._announce is None:
            return
        from conveyor.notify.outbox import enqueue

        session.flush()  # a deploy id drawn twice fails here, and is drawn again
        enqueue(session, self._announce(_record(row), failed_on), now=now)

    def _unknown(self, deploy_id: str) -> ConveyorError:
        return ConveyorError(
            f"no deploy {deploy_id!r} in the history at {self.shown}",
            hint='"conveyor history" lists recent deploys and their ids',
        )


def _check(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise ConveyorError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")


def _failed_on(session: Session, deploy_id: str) -> list[str]:
    """The hosts where a step of the deploy failed, in the order they failed."""
    query = (
        select(EventRow.host)
        .where(EventRow.deploy_id == deploy_id, EventRow.kind.like("%:fail"))
        .where(EventRow.host.is_not(None))
        .order_by(EventRow.at, EventRow.id)
    )
    return list(dict.fromkeys(h for h in session.scalars(query) if h))


def _record(row: DeployRow) -> DeployRecord:
    return DeployRecord(
        id=row.id,
        environment=row.environment,
        kind=row.kind,
        release=row.release,
        version=row.version,
        commit=row.commit,
        status=row.status,
        user=row.user,
        machine=row.machine,
        started_at=row.started_at,
        finished_at=row.finished_at,
        message=row.message,
        cause=row.cause,
        hosts=tuple(row.hosts),
        hotfix=bool(row.hotfix),
    )


def releases_in_use(root: Path) -> set[str]:
    """`HistoryStore.in_use` of a project's history; none when nothing was recorded yet
    (no history is made for asking)."""
    if not os.environ.get(URL_VARIABLE) and not default_path(root).exists():
        return set()
    with HistoryStore.for_project(root) as store:
        return store.in_use()
