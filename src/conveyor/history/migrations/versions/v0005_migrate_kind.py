"""Records of kind "migrate": `conveyor db downgrade ENV --to REV` (a schema change made
outside a deploy).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 21:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None

_NAME = "ck_conveyor_deploys_kind"
_BEFORE = "'deploy', 'rollback', 'recover', 'stop', 'start'"


def upgrade() -> None:
    """Allow kind "migrate" (SQLite: the table is copied, as batch mode does)."""
    with op.batch_alter_table("conveyor_deploys") as batch:
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, f"kind IN ({_BEFORE}, 'migrate')")


def downgrade() -> None:
    """Back to revision 0004: migrate records are removed with their events."""
    op.execute(
        "DELETE FROM conveyor_deploy_events WHERE deploy_id IN "
        "(SELECT id FROM conveyor_deploys WHERE kind = 'migrate')"
    )
    op.execute("DELETE FROM conveyor_deploys WHERE kind = 'migrate'")
    with op.batch_alter_table("conveyor_deploys") as batch:
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, f"kind IN ({_BEFORE})")
