"""status reason category: the public page says why a licence was suspended or revoked, by category

Revision ID: 0025
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN with a constant default (see 0016): earlier changes are "other".
    op.add_column(
        "certificate_status_changes",
        sa.Column("category", sa.String(length=30), nullable=False, server_default="other"),
    )


def downgrade() -> None:
    with op.batch_alter_table("certificate_status_changes") as batch:
        batch.drop_column("category")
