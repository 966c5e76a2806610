"""archival renewals: newer document time-stamps appended to issued PDFs (certsvc ltv renew)

Revision ID: 0020_ltv_renewals
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_ltv_renewals"
down_revision = "0001"
branch_labels = None
depends_on = None

_UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ltv_renewals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("previous_sha256", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("stamped_at", _UTC_DT, nullable=False),
        sa.Column("tsa_not_after", _UTC_DT, nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_ltv_renewals_certificate_id_certificates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ltv_renewals")),
        sa.UniqueConstraint("previous_sha256", name="uq_ltv_renewals_previous_sha256"),
    )
    op.create_index(op.f("ix_ltv_renewals_certificate_id"), "ltv_renewals", ["certificate_id"])
    op.create_index(op.f("ix_ltv_renewals_sha256"), "ltv_renewals", ["sha256"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ltv_renewals_sha256"), table_name="ltv_renewals")
    op.drop_index(op.f("ix_ltv_renewals_certificate_id"), table_name="ltv_renewals")
    op.drop_table("ltv_renewals")
