"""Gates before production: approvals and their signatures, check results by commit,
the commits each deploy brought (change lead time), and the hotfix mark (rework rate).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 23:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from conveyor.history.models import UTCDateTime

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Four new tables and one column with a default: nothing written before changes."""
    with op.batch_alter_table("conveyor_deploys") as batch:
        batch.add_column(
            sa.Column("hotfix", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.create_table(
        "conveyor_changes",
        sa.Column(
            "deploy_id",
            sa.String(64),
            sa.ForeignKey("conveyor_deploys.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("sha", sa.String(64), primary_key=True),
        sa.Column("committed_at", UTCDateTime(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
    )
    op.create_table(
        "conveyor_checks",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("commit", sa.String(64), nullable=False),
        sa.Column("config", sa.String(80), nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
    )
    op.create_index("ix_conveyor_checks_commit", "conveyor_checks", ["commit", "config"])
    op.create_table(
        "conveyor_approvals",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("environment", sa.String(200), nullable=False),
        sa.Column("release", sa.Text(), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("commit", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("plan", sa.Text(), nullable=False),
        sa.Column("gates", sa.Text(), nullable=False),
        sa.Column("authors", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("requested_by", sa.Text(), nullable=False),
        sa.Column("requested_at", UTCDateTime(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("why", sa.Text(), nullable=True),
        sa.Column("deploy_id", sa.String(64), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'rejected', 'ran')",
            name="ck_conveyor_approvals_status",
        ),
    )
    op.create_index(
        "ix_conveyor_approvals_env", "conveyor_approvals", ["environment", "requested_at"]
    )
    op.create_table(
        "conveyor_signatures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "approval_id",
            sa.String(64),
            sa.ForeignKey("conveyor_approvals.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("signer", sa.Text(), nullable=False),
        sa.Column("verdict", sa.String(16), nullable=False),
        sa.Column("statement", sa.Text(), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_conveyor_signatures_approval_id", "conveyor_signatures", ["approval_id"])


def downgrade() -> None:
    """Back to revision 0005: approvals, check results and change times are dropped."""
    op.drop_table("conveyor_signatures")
    op.drop_table("conveyor_approvals")
    op.drop_index("ix_conveyor_checks_commit", table_name="conveyor_checks")
    op.drop_table("conveyor_checks")
    op.drop_table("conveyor_changes")
    with op.batch_alter_table("conveyor_deploys") as batch:
        batch.drop_column("hotfix")
