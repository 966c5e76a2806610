"""ofd: the sealed OFD file of each licence version

Revision ID: 0014
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificate_ofds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("unsigned_sha256", sa.String(length=64), nullable=False),
        sa.Column("seal_box", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_certificate_ofds_certificate_id_certificates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_certificate_ofds")),
        sa.UniqueConstraint(
            "certificate_id", "version", name=op.f("uq_certificate_ofds_certificate_id")
        ),
    )
    op.create_index(
        op.f("ix_certificate_ofds_certificate_id"), "certificate_ofds", ["certificate_id"]
    )
    op.create_index(op.f("ix_certificate_ofds_sha256"), "certificate_ofds", ["sha256"])


def downgrade() -> None:
    op.drop_index(op.f("ix_certificate_ofds_sha256"), table_name="certificate_ofds")
    op.drop_index(op.f("ix_certificate_ofds_certificate_id"), table_name="certificate_ofds")
    op.drop_table("certificate_ofds")
