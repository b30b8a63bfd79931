"""Deploys and their events.

Revision ID: 0001
Revises:
Create Date: 2026-01-01 00:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conveyor.history.models import UTCDateTime

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create conveyor_deploys and conveyor_deploy_events."""
    op.create_table(
        "conveyor_deploys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("release", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("commit", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("user", sa.Text(), nullable=False),
        sa.Column("machine", sa.Text(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("cause", sa.Text(), nullable=True),
        sa.Column("hosts", sa.JSON(), nullable=False),
        sa.CheckConstraint("kind IN ('deploy', 'rollback')", name="ck_conveyor_deploys_kind"),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed', 'rolled_back')",
            name="ck_conveyor_deploys_status",
        ),
    )
    op.create_index(
        "ix_conveyor_deploys_env_started", "conveyor_deploys", ["environment", "started_at"]
    )
    op.create_table(
        "conveyor_deploy_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "deploy_id",
            sa.String(64),
            sa.ForeignKey("conveyor_deploys.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("host", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
    )
    op.create_index("ix_conveyor_deploy_events_deploy_id", "conveyor_deploy_events", ["deploy_id"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_table("conveyor_deploy_events")
    op.drop_table("conveyor_deploys")
