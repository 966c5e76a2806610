"""blobs stored as a base blob plus an increment (re-signed versions)

Revision ID: 0030_blob_increments
Revises: 0021_shared_stores
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0030_blob_increments"
down_revision = "0021_shared_stores"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.add_column(sa.Column("base_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("blobs") as batch:
        batch.drop_column("base_sha256")
