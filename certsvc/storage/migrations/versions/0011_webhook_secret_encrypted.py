"""webhook secrets encrypted at rest: encrypted_secret, and the clear-text column made nullable

The encryption itself needs the key passphrase, which migrations never see: rows written before
this revision are encrypted (and their clear text removed) by ``services.webhook_secrets`` when
the service starts (``build_context``) and by ``certsvc init``.

Revision ID: 0011
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.add_column(sa.Column("encrypted_secret", sa.String(length=255), nullable=True))
        batch.alter_column("secret", existing_type=sa.String(length=100), nullable=True)


def downgrade() -> None:
    # Encrypted secrets cannot be decrypted here (no passphrase): their endpoints keep no secret
    # and must be registered again.
    op.execute("UPDATE webhook_endpoints SET secret = '' WHERE secret IS NULL")
    with op.batch_alter_table("webhook_endpoints") as batch:
        batch.alter_column("secret", existing_type=sa.String(length=100), nullable=False)
        batch.drop_column("encrypted_secret")
