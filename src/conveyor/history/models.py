"""The history schema as SQLAlchemy models; migrations/ creates and evolves the tables."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

KINDS = ("deploy", "rollback", "recover", "stop", "start", "migrate")
STATUSES = ("running", "succeeded", "failed", "rolled_back")
FINAL_STATUSES = ("succeeded", "failed", "rolled_back")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on SQLite (no time zones) as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC (naive on SQLite, which sorts the text)."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: history times must be timezone-aware")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Whatever the driver returns, as an aware UTC datetime."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    """Metadata of the history schema."""


class DeployRow(Base):
    """One deploy or rollback of one environment."""

    # Prefixed: a PostgreSQL URL may point at a database the app's own tables live in.
    __tablename__ = "conveyor_deploys"
    __table_args__ = (
        Index("ix_conveyor_deploys_env_started", "environment", "started_at"),
        CheckConstraint(f"kind IN {KINDS!r}", name="ck_conveyor_deploys_kind"),
        CheckConstraint(f"status IN {STATUSES!r}", name="ck_conveyor_deploys_status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    environment: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    release: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(Text)
    commit: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    user: Mapped[str] = mapped_column(Text)
    machine: Mapped[str] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    message: Mapped[str] = mapped_column(Text)
    cause: Mapped[str | None] = mapped_column(Text, nullable=True)
    hosts: Mapped[list[str]] = mapped_column(JSON)
    # An unplanned deploy made because of an incident (`--hotfix`, or a hotfix/ branch).
    hotfix: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class EventRow(Base):
    """One timestamped step of a deploy, on one host or on the whole environment."""

    __tablename__ = "conveyor_deploy_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    deploy_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("conveyor_deploys.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    host: Mapped[str | None] = mapped_column(Text, nullable=True)
    kind: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    # The event's structured values as JSON (`deploy/events.py` `Event.fields`, and its
    # `kind` as "event"); a step's duration in seconds. None on events from before 0004.
    fields: Mapped[str | None] = mapped_column(Text, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)


class ChangeRow(Base):
    """One commit a production deploy brought, with its time (for change lead time)."""

    __tablename__ = "conveyor_changes"

    deploy_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("conveyor_deploys.id", ondelete="CASCADE"), primary_key=True
    )
    sha: Mapped[str] = mapped_column(String(64), primary_key=True)
    committed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    author: Mapped[str] = mapped_column(Text)  # "Name <email>" as git has it


class CheckRow(Base):
    """One `conveyor check` run: which commit, with which configuration, and its result."""

    __tablename__ = "conveyor_checks"
    __table_args__ = (Index("ix_conveyor_checks_commit", "commit", "config"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    commit: Mapped[str] = mapped_column(String(64))
    config: Mapped[str] = mapped_column(String(80))  # sha256 of the validated conveyor.toml
    passed: Mapped[bool] = mapped_column(Boolean)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime)
    summary: Mapped[str] = mapped_column(Text)


APPROVAL_STATUSES = ("pending", "approved", "rejected", "ran")


class ApprovalRow(Base):
    """A deploy plan waiting for (or given) approval: the plan itself and its digest."""

    __tablename__ = "conveyor_approvals"
    __table_args__ = (
        Index("ix_conveyor_approvals_env", "environment", "requested_at"),
        CheckConstraint(f"status IN {APPROVAL_STATUSES!r}", name="ck_conveyor_approvals_status"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    environment: Mapped[str] = mapped_column(String(200))
    release: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(Text)
    commit: Mapped[str] = mapped_column(Text)
    digest: Mapped[str] = mapped_column(String(80))
    plan: Mapped[str] = mapped_column(Text)  # the saved-plan document (no secret in it)
    gates: Mapped[str] = mapped_column(Text)  # JSON: the automatic gates as evaluated
    authors: Mapped[str] = mapped_column(Text)  # JSON: who wrote the commits in the range
    status: Mapped[str] = mapped_column(String(16))
    requested_by: Mapped[str] = mapped_column(Text)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    why: Mapped[str | None] = mapped_column(Text, nullable=True)  # a rejection's reason
    deploy_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # what ran it


class SignatureRow(Base):
    """One approver's signed verdict on an approval request."""

    __tablename__ = "conveyor_signatures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    approval_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("conveyor_approvals.id", ondelete="CASCADE"), index=True
    )
    signer: Mapped[str] = mapped_column(Text)  # the principal allowed_signers names
    verdict: Mapped[str] = mapped_column(String(16))  # "approve" or "reject"
    statement: Mapped[str] = mapped_column(Text)  # exactly what was signed
    signature: Mapped[str] = mapped_column(Text)  # the SSH signature (armored)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)


OUTBOX_STATUSES = ("pending", "sent", "dead")


class OutboxRow(Base):
    """One notification to one target: written in the transaction of the event it tells of,
    sent at least once (`conveyor.notify`), or kept as a dead letter with its last error."""

    __tablename__ = "conveyor_notify_outbox"
    __table_args__ = (
        Index("ix_conveyor_notify_outbox_due", "status", "next_at"),
        Index("ix_conveyor_notify_outbox_subject", "subject", "id"),
        UniqueConstraint("subject", "seq", "target", name="uq_conveyor_notify_outbox_message"),
        CheckConstraint(f"status IN {OUTBOX_STATUSES!r}", name="ck_conveyor_notify_outbox_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # What the message is about: a deploy's id, or an approval request's.
    subject: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int] = mapped_column(Integer)  # the subject's 1st, 2nd... message
    environment: Mapped[str] = mapped_column(String(200))
    event: Mapped[str] = mapped_column(String(32))
    # As written in conveyor.toml: its $VARS are expanded only when it is sent.
    target: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    level: Mapped[str] = mapped_column(String(16))  # apprise's notify type: info, failure...
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_at: Mapped[datetime] = mapped_column(UTCDateTime)  # not tried before then
    # A sender's claim: no other sender takes the row until it runs out.
    claimed_by: Mapped[str | None] = mapped_column(String(120), nullable=True)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)  # secrets masked
