"""Approval requests and their signed verdicts, kept in the history store: with the history
on PostgreSQL ($CONVEYOR_HISTORY_URL) several people share them; with the embedded SQLite
default they live on the machine that deploys."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import select, update

from conveyor.errors import ConveyorError
from conveyor.history.models import ApprovalRow, SignatureRow
from conveyor.history.records import utcnow
from conveyor.history.store import HistoryStore
from conveyor.notify.notice import Notice
from conveyor.notify.outbox import enqueue


@dataclass(frozen=True)
class Signature:
    """One approver's signed verdict, as recorded."""

    signer: str
    verdict: str  # "approve" or "reject"
    statement: str
    signature: str
    signed_at: datetime


@dataclass(frozen=True)
class Request:
    """A deploy plan waiting for (or given) approval."""

    id: str
    environment: str
    release: str
    version: str
    commit: str
    digest: str
    plan: Mapping[str, Any]  # the saved-plan document (`deploy/saved.py`)
    context: Mapping[str, Any]  # the gates as evaluated, the accepted lint findings, the ref
    authors: tuple[str, ...]  # "Name <email>" of whoever wrote or committed the range
    status: str
    requested_by: str
    requested_at: datetime
    decided_at: datetime | None
    why: str | None
    deploy_id: str | None
    signatures: tuple[Signature, ...] = ()


def create(
    store: HistoryStore,
    *,
    environment: str,
    plan: Mapping[str, Any],
    version: str,
    commit: str,
    context: Mapping[str, Any],
    authors: Sequence[str],
    requested_by: str,
    now: datetime | None = None,
    announce: Callable[[str], Sequence[Notice]] | None = None,
) -> Request:
    """Record a new pending request for `plan`; returns it. `announce`: the notifications
    of the request's id, written to the outbox in the same transaction."""
    at = now or utcnow()
    request_id = f"a-{at.astimezone(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    row = ApprovalRow(
        id=request_id,
        environment=environment,
        release=str(plan["release"]),
        version=version,
        commit=commit,
        digest=str(plan["digest"]),
        plan=json.dumps(plan, sort_keys=True),
        gates=json.dumps(context, sort_keys=True),
        authors=json.dumps(list(authors)),
        status="pending",
        requested_by=requested_by,
        requested_at=at,
        decided_at=None,
        why=None,
        deploy_id=None,
    )
    with store.transaction() as session:
        session.add(row)
        if announce is not None:
            session.flush()
            enqueue(session, announce(request_id))
    return get(store, request_id)


def get(store: HistoryStore, request_id: str) -> Request:
    """One request with its signatures; an error naming it when there is none."""
    with store.transaction() as session:
        row = session.get(ApprovalRow, request_id)
        if row is None:
            raise ConveyorError(
                f"no approval request {request_id!r} in the history at {store.shown}",
                hint='"conveyor approvals" lists them',
            )
        return _request(row, _signatures(session, [request_id]).get(request_id, ()))


def listing(
    store: HistoryStore, environment: str | None = None, *, pending: bool = False, limit: int = 20
) -> list[Request]:
    """The newest requests, of one environment or all (only those still pending)."""
    query = select(ApprovalRow)
    if environment is not None:
        query = query.where(ApprovalRow.environment == environment)
    if pending:
        query = query.where(ApprovalRow.status.in_(("pending", "approved")))
    query = query.order_by(ApprovalRow.requested_at.desc(), ApprovalRow.id.desc()).limit(limit)
    with store.transaction() as session:
        rows = list(session.scalars(query))
        signed = _signatures(session, [r.id for r in rows])
        return [_request(r, signed.get(r.id, ())) for r in rows]


def add_signature(
    store: HistoryStore,
    request: Request,
    signature: Signature,
    *,
    status: str,
    why: str = "",
    notices: Sequence[Notice] = (),
) -> None:
    """Record a verdict, and the request's status after it, with its notifications, in one
    transaction; refused when the request was decided meanwhile."""
    with store.transaction() as session:
        row = session.get(ApprovalRow, request.id, with_for_update=True)
        assert row is not None
        if row.status not in ("pending", "approved"):
            raise ConveyorError(
                f"approval request {request.id} is {row.status} already; nothing was recorded"
            )
        session.add(
            SignatureRow(
                approval_id=request.id,
                signer=signature.signer,
                verdict=signature.verdict,
                statement=signature.statement,
                signature=signature.signature,
                signed_at=signature.signed_at,
            )
        )
        row.status = status
        if status in ("approved", "rejected"):
            row.decided_at = signature.signed_at
        if why:
            row.why = why
        enqueue(session, notices)


def claim(store: HistoryStore, request_id: str) -> bool:
    """Mark a request as running, once: False when another deploy claimed it first."""
    with store.transaction() as session:
        done = session.execute(
            update(ApprovalRow)
            .where(ApprovalRow.id == request_id, ApprovalRow.status.in_(("pending", "approved")))
            .values(status="ran")
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]


def settle(store: HistoryStore, request_id: str, deploy_id: str | None) -> None:
    """After a claimed run: the deploy that ran it, or (None: it never started) back to
    waiting, so the same approval can run it."""
    with store.transaction() as session:
        row = session.get(ApprovalRow, request_id, with_for_update=True)
        assert row is not None
        if deploy_id is None:
            row.status = "approved" if row.decided_at is not None else "pending"
        else:
            row.deploy_id = deploy_id


def _signatures(session: Any, ids: Sequence[str]) -> dict[str, tuple[Signature, ...]]:
    found: dict[str, list[Signature]] = {}
    if not ids:
        return {}
    query = (
        select(SignatureRow)
        .where(SignatureRow.approval_id.in_(ids))
        .order_by(SignatureRow.signed_at, SignatureRow.id)
    )
    for r in session.scalars(query):
        found.setdefault(r.approval_id, []).append(
            Signature(r.signer, r.verdict, r.statement, r.signature, r.signed_at)
        )
    return {key: tuple(value) for key, value in found.items()}


def _request(row: ApprovalRow, signatures: Sequence[Signature]) -> Request:
    return Request(
        id=row.id,
        environment=row.environment,
        release=row.release,
        version=row.version,
        commit=row.commit,
        digest=row.digest,
        plan=json.loads(row.plan),
        context=json.loads(row.gates),
        authors=tuple(json.loads(row.authors)),
        status=row.status,
        requested_by=row.requested_by,
        requested_at=row.requested_at,
        decided_at=row.decided_at,
        why=row.why,
        deploy_id=row.deploy_id,
        signatures=tuple(signatures),
    )
