"""sealing records: the reference validator's outcome for each sealed file, kept by the producer

Revision ID: 0031_sealing_records
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0031_sealing_records"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificate_versions") as batch:
        batch.add_column(sa.Column("sealing_record", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("certificate_versions") as batch:
        batch.drop_column("sealing_record")
