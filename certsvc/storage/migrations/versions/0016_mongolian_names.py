"""mongolian names: departments and seals carry their name in traditional Mongolian script

Revision ID: 0016
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (with a constant default), never a batch table copy: SQLite's copy drops
    # the old table, which its foreign keys refuse once seals and licences refer to it.
    op.add_column("departments", sa.Column("name_mn", sa.String(length=400), nullable=True))
    op.add_column(
        "departments",
        sa.Column("is_bilingual", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    # 行政区划代码 15xxxx is 内蒙古: its bodies write their names in Mongolian and Chinese.
    op.execute("UPDATE departments SET is_bilingual = true WHERE area_code LIKE '15%'")
    op.add_column("seals", sa.Column("name_mn", sa.String(length=200), nullable=True))
    op.add_column(
        "seals",
        sa.Column("ring_layout", sa.String(length=10), nullable=False, server_default="rings"),
    )


def downgrade() -> None:
    with op.batch_alter_table("seals") as batch:
        batch.drop_column("ring_layout")
        batch.drop_column("name_mn")
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("is_bilingual")
        batch.drop_column("name_mn")
