"""blobs and encrypted keys in the database (stores a cluster shares)

Revision ID: 0021_shared_stores
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021_shared_stores"
down_revision = "0001"
branch_labels = None
depends_on = None

_UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("sha256", name=op.f("pk_blobs")),
    )
    op.create_table(
        "key_files",
        sa.Column("ref", sa.String(length=121), nullable=False),
        sa.Column("encrypted_pem", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", _UTC_DT, nullable=False),
        sa.PrimaryKeyConstraint("ref", name=op.f("pk_key_files")),
    )


def downgrade() -> None:
    op.drop_table("key_files")
    op.drop_table("blobs")
