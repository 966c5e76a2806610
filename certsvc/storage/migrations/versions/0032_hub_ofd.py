"""hub OFD copies: a delivered version's sealed OFD beside its PDF, with the certificates its seal needs

Revision ID: 0032_hub_ofd
Revises: 0023_connector
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0032_hub_ofd"
down_revision = "0023_connector"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: versions delivered before, and versions sealed with ECDSA/RSA, have no OFD.
    op.add_column("hub_licence_files", sa.Column("ofd_sha256", sa.String(length=64), nullable=True))
    op.add_column("hub_licence_files", sa.Column("ofd_chain_pem", sa.Text(), nullable=True))
    op.create_index(op.f("ix_hub_licence_files_ofd_sha256"), "hub_licence_files", ["ofd_sha256"])


def downgrade() -> None:
    op.drop_index(op.f("ix_hub_licence_files_ofd_sha256"), table_name="hub_licence_files")
    with op.batch_alter_table("hub_licence_files") as batch:
        batch.drop_column("ofd_chain_pem")
        batch.drop_column("ofd_sha256")
