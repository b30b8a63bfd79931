"""Record which algorithm made a recommendation; index the per-user lookup.

Both changes are additive: a nullable column and an index, so the release
before this one keeps working against the upgraded database.

Revision ID: 0002
Revises: 0001
Create Date: 2025-02-03 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add recommendations.algorithm and the (user_id, rank) index."""
    op.add_column("recommendations", sa.Column("algorithm", sa.String(length=64), nullable=True))
    # CONCURRENTLY keeps the table writable on PostgreSQL while the index builds;
    # it cannot run inside a transaction, hence the autocommit block.
    with op.get_context().autocommit_block():
        op.create_index(
            "ix_recommendations_user_rank",
            "recommendations",
            ["user_id", "rank"],
            postgresql_concurrently=True,
        )


def downgrade() -> None:
    """Drop the index and the column."""
    with op.get_context().autocommit_block():
        op.drop_index(
            "ix_recommendations_user_rank",
            table_name="recommendations",
            postgresql_concurrently=True,
        )
    # Batch mode: older SQLite versions cannot drop a column in place.
    with op.batch_alter_table("recommendations") as batch:
        batch.drop_column("algorithm")
