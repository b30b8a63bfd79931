"""Records of kind "stop" and "start": `conveyor stop ENV` and `conveyor start ENV`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 22:30:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

_NAME = "ck_conveyor_deploys_kind"


def upgrade() -> None:
    """Allow kinds "stop" and "start" (SQLite: the table is copied, as batch mode does)."""
    with op.batch_alter_table("conveyor_deploys") as batch:
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(
            _NAME, "kind IN ('deploy', 'rollback', 'recover', 'stop', 'start')"
        )


def downgrade() -> None:
    """Back to revision 0002: stop and start records are removed with their events."""
    op.execute(
        "DELETE FROM conveyor_deploy_events WHERE deploy_id IN "
        "(SELECT id FROM conveyor_deploys WHERE kind IN ('stop', 'start'))"
    )
    op.execute("DELETE FROM conveyor_deploys WHERE kind IN ('stop', 'start')")
    with op.batch_alter_table("conveyor_deploys") as batch:
        batch.drop_constraint(_NAME, type_="check")
        batch.create_check_constraint(_NAME, "kind IN ('deploy', 'rollback', 'recover')")
