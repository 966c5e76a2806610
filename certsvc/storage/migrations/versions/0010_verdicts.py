"""verdicts: seal key compromise time, print copy lookup, numbered and chained audit checkpoints

Revision ID: 0010
Revises: 0001
Depends on: 0002 (audit_checkpoints)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0001"
branch_labels = None
depends_on = "0002"


def upgrade() -> None:
    with op.batch_alter_table("seals") as batch:
        batch.add_column(sa.Column("compromised_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_certificate_versions_print_sha256", "certificate_versions", ["print_sha256"]
    )
    with op.batch_alter_table("audit_checkpoints") as batch:
        # Checkpoints written before numbering keep NULLs and their original signed message.
        batch.add_column(sa.Column("sequence", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("prev_checkpoint_hash", sa.String(length=64), nullable=True))
        batch.create_unique_constraint("uq_audit_checkpoints_sequence", ["sequence"])


def downgrade() -> None:
    with op.batch_alter_table("audit_checkpoints") as batch:
        batch.drop_constraint("uq_audit_checkpoints_sequence", type_="unique")
        batch.drop_column("prev_checkpoint_hash")
        batch.drop_column("sequence")
    op.drop_index("ix_certificate_versions_print_sha256", table_name="certificate_versions")
    with op.batch_alter_table("seals") as batch:
        batch.drop_column("compromised_at")
