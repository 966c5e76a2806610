"""webhook leases: one node at a time delivers an event

Revision ID: 0017b
Revises: 0017 (needs 0002)

Every API process sends the events left pending at start-up, and several processes (machines)
share one registry: a delivery is leased by the process that sends it, for as long as one
attempt and the back-off after it last, so no two processes post the same event.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017b"
down_revision = "0017"
branch_labels = None
depends_on = "0002"  # the webhook tables


def upgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.add_column(sa.Column("lease_owner", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_deliveries") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("lease_owner")
