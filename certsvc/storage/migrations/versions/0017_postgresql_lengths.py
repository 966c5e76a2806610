"""postgresql: audit outcomes longer than 20 characters

Revision ID: 0017
Revises: 0001

SQLite does not enforce VARCHAR lengths; PostgreSQL does, and "refused_other_department" (24)
is a recorded outcome. SQLite keeps its column as it is: rebuilding the audit table there would
change nothing that SQLite checks.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column(
        "audit_events", "outcome", type_=sa.String(length=40), existing_type=sa.String(length=20)
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        return
    op.alter_column(
        "audit_events", "outcome", type_=sa.String(length=20), existing_type=sa.String(length=40)
    )
