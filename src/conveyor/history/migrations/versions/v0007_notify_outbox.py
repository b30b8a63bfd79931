"""The notifications' outbox: each message to each target, written in the transaction of the
deploy record it tells of, until its target confirms it (or as a dead letter).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conveyor.history.models import UTCDateTime

revision = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_TABLE = "conveyor_notify_outbox"


def upgrade() -> None:
    """One new table: nothing written before changes."""
    op.create_table(
        _TABLE,
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("next_at", UTCDateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(120), nullable=True),
        sa.Column("claimed_until", UTCDateTime(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.UniqueConstraint("subject", "seq", "target", name="uq_conveyor_notify_outbox_message"),
        sa.CheckConstraint(
            "status IN ('pending', 'sent', 'dead')", name="ck_conveyor_notify_outbox_status"
        ),
    )
    op.create_index("ix_conveyor_notify_outbox_due", _TABLE, ["status", "next_at"])
    op.create_index("ix_conveyor_notify_outbox_subject", _TABLE, ["subject", "id"])


def downgrade() -> None:
    """Back to revision 0006: notifications not sent yet are dropped with the table."""
    op.drop_index("ix_conveyor_notify_outbox_subject", table_name=_TABLE)
    op.drop_index("ix_conveyor_notify_outbox_due", table_name=_TABLE)
    op.drop_table(_TABLE)
