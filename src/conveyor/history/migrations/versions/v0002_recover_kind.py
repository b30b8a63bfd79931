"""A record of kind "recover": conveyor finishing an interrupted deploy.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 00:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

_NAME = "ck_conveyor_deploys_kind"


def upgrade() -> None:
    """Allow kind "recover" (SQLite: the table is copied, as batch mode does)."""
    with op.batch_alter_table("conveyor_deploys") as batch:
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, "kind IN ('deploy', 'rollback', 'recover')")


def downgrade() -> None:
    """Back to deploy and rollback only; recover records become rollbacks."""
    op.execute("UPDATE conveyor_deploys SET kind = 'rollback' WHERE kind = 'recover'")
    with op.batch_alter_table("conveyor_deploys") as batch:
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, "kind IN ('deploy', 'rollback')")
