"""seal certificate revocations (CRL / OCSP of the seal CAs)

Revision ID: 0015_revocation
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015_revocation"
down_revision = "0001"
branch_labels = None
depends_on = None

_UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "seal_revocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("seal_id", sa.Integer(), nullable=False),
        sa.Column("certificate_sha256", sa.String(length=64), nullable=False),
        sa.Column("serial_hex", sa.String(length=40), nullable=False),
        sa.Column("issuer_sha256", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("revoked_at", _UTC_DT, nullable=False),
        sa.Column("invalid_from", _UTC_DT, nullable=False),
        sa.Column("actor", sa.String(length=120), nullable=False),
        sa.ForeignKeyConstraint(
            ["seal_id"], ["seals.id"], name=op.f("fk_seal_revocations_seal_id_seals")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seal_revocations")),
        sa.UniqueConstraint("seal_id", name=op.f("uq_seal_revocations_seal_id")),
        sa.UniqueConstraint(
            "certificate_sha256", name=op.f("uq_seal_revocations_certificate_sha256")
        ),
    )
    op.create_index(
        op.f("ix_seal_revocations_issuer_sha256"), "seal_revocations", ["issuer_sha256"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_seal_revocations_issuer_sha256"), table_name="seal_revocations")
    op.drop_table("seal_revocations")
