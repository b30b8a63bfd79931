"""The store's records about commits: the commits each deploy brought, check results by
commit and checks configuration, and the events metrics read from many deploys at once.

A mixin of `HistoryStore` (`store.py`), kept apart so that neither module grows past a
few hundred lines; it uses the store's sessions and says unknown deploys the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from conveyor.errors import ConveyorError
from conveyor.history.engine import trim
from conveyor.history.models import ChangeRow, CheckRow, DeployRow, EventRow
from conveyor.history.records import Change, CheckRecord, DeployEvent

# Rows asked for by id per query: well under SQLite's limit on bound parameters.
CHUNK = 500


class CommitRecords:
    """Changes and check results; mixed into `HistoryStore`, which provides the sessions."""

    def _session(self) -> Session:
        raise NotImplementedError  # HistoryStore's

    def _unknown(self, deploy_id: str) -> ConveyorError:
        raise NotImplementedError  # HistoryStore's

    def record_changes(self, deploy_id: str, changes: Sequence[Change]) -> None:
        """Record the commits a deploy brings (a commit named twice is kept once)."""
        unique = {change.sha: change for change in changes}
        with self._session() as session, session.begin():
            if session.get(DeployRow, deploy_id) is None:
                raise self._unknown(deploy_id)
            for change in unique.values():
                session.merge(
                    ChangeRow(
                        deploy_id=deploy_id,
                        sha=change.sha,
                        committed_at=change.committed_at,
                        author=trim(change.author),
                    )
                )

    def changes(self, deploy_ids: Iterable[str]) -> dict[str, list[Change]]:
        """The commits each of these deploys brought, newest commit first; none: no key."""
        found: dict[str, list[Change]] = {}
        with self._session() as session, session.begin():
            for chunk in _chunks(deploy_ids):
                query = (
                    select(ChangeRow)
                    .where(ChangeRow.deploy_id.in_(chunk))
                    .order_by(ChangeRow.committed_at.desc(), ChangeRow.sha)
                )
                for row in session.scalars(query):
                    found.setdefault(row.deploy_id, []).append(
                        Change(row.sha, row.committed_at, row.author)
                    )
        return found

    def record_check(
        self,
        *,
        commit: str,
        config: str,
        passed: bool,
        started_at: datetime,
        finished_at: datetime,
        summary: str,
    ) -> None:
        """Record one `conveyor check` run of `commit` with the checks configuration `config`."""
        if not commit or not config:
            raise ConveyorError("cannot record a check without its commit and configuration")
        with self._session() as session, session.begin():
            session.add(
                CheckRow(
                    commit=commit,
                    config=config,
                    passed=passed,
                    started_at=started_at,
                    finished_at=finished_at,
                    summary=trim(summary),
                )
            )

    def check_passed(self, commit: str, config: str) -> CheckRecord | None:
        """The earliest passing check of exactly this commit and checks configuration, or None."""
        query = (
            select(CheckRow)
            .where(CheckRow.commit == commit, CheckRow.config == config, CheckRow.passed)
            .order_by(CheckRow.finished_at, CheckRow.id)
            .limit(1)
        )
        with self._session() as session, session.begin():
            row = session.scalars(query).first()
            if row is None:
                return None
            return CheckRecord(
                row.id,
                row.commit,
                row.config,
                row.passed,
                row.started_at,
                row.finished_at,
                row.summary,
            )

    def checks_passed_at(self, commits: Iterable[str]) -> dict[str, datetime]:
        """When each of these commits first passed `conveyor check`, whatever its checks
        configuration (the end of that run); commits that never passed have no key."""
        found: dict[str, datetime] = {}
        with self._session() as session, session.begin():
            for chunk in _chunks(commits):
                query = select(CheckRow.commit, CheckRow.finished_at).where(
                    CheckRow.commit.in_(chunk), CheckRow.passed
                )
                for commit, finished in session.execute(query):
                    if commit not in found or finished < found[commit]:
                        found[commit] = finished
        return found

    def step_events(self, deploy_ids: Iterable[str], step: str) -> dict[str, list[DeployEvent]]:
        """The events of one step (kind `step` or `step:<status>`) of each of these deploys,
        in the order they were recorded."""
        found: dict[str, list[DeployEvent]] = {}
        of_step = or_(EventRow.kind == step, EventRow.kind.startswith(f"{step}:", autoescape=True))
        with self._session() as session, session.begin():
            for chunk in _chunks(deploy_ids):
                query = (
                    select(EventRow)
                    .where(EventRow.deploy_id.in_(chunk), of_step)
                    .order_by(EventRow.at, EventRow.id)
                )
                for r in session.scalars(query):
                    found.setdefault(r.deploy_id, []).append(event_of(r))
        return found


def _chunks(values: Iterable[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), CHUNK):
        yield unique[start : start + CHUNK]


def event_of(row: EventRow) -> DeployEvent:
    """An event row as the plain value readers get."""
    return DeployEvent(
        row.deploy_id,
        row.at,
        row.host,
        row.kind,
        row.message,
        json.loads(row.fields) if row.fields else {},
        row.seconds,
    )
