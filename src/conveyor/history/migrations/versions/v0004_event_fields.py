"""Events keep their structured values: `fields` (JSON) and `seconds` (a step's duration).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Two nullable columns: events written before have neither."""
    with op.batch_alter_table("conveyor_deploy_events") as batch:
        batch.add_column(sa.Column("fields", sa.Text(), nullable=True))
        batch.add_column(sa.Column("seconds", sa.Float(), nullable=True))


def downgrade() -> None:
    """Back to revision 0003: the events keep their kind and message."""
    with op.batch_alter_table("conveyor_deploy_events") as batch:
        batch.drop_column("seconds")
        batch.drop_column("fields")
