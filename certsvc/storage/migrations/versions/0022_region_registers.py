"""region registers: department places, matters and their materials, the matter of a use

Revision ID: 0022
Revises: 0001
Depends on: 0005 (sharing_usage_records)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0001"
branch_labels = None
# sharing_usage_records is made by 0005.
depends_on = "0005"


def upgrade() -> None:
    op.create_table(
        "department_places",
        sa.Column("department_id", sa.Integer(), sa.ForeignKey("departments.id"), primary_key=True),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("parent_code", sa.String(length=18), nullable=True),
    )
    op.create_index("ix_department_places_parent_code", "department_places", ["parent_code"])
    op.create_table(
        "matters",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(length=64), nullable=False, unique=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "matter_materials",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("matter_id", sa.Integer(), sa.ForeignKey("matters.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("licence_types", sa.JSON(), nullable=False),
        sa.UniqueConstraint("matter_id", "name"),
    )
    op.create_index("ix_matter_materials_matter_id", "matter_materials", ["matter_id"])
    # Plain ADD COLUMN: a batch copy would drop a table other rows refer to.
    op.add_column(
        "sharing_usage_records", sa.Column("matter_code", sa.String(length=64), nullable=True)
    )
    op.create_index(
        "ix_sharing_usage_records_matter_code", "sharing_usage_records", ["matter_code"]
    )


def downgrade() -> None:
    op.drop_index("ix_sharing_usage_records_matter_code", table_name="sharing_usage_records")
    with op.batch_alter_table("sharing_usage_records") as batch:
        batch.drop_column("matter_code")
    op.drop_index("ix_matter_materials_matter_id", table_name="matter_materials")
    op.drop_table("matter_materials")
    op.drop_table("matters")
    op.drop_index("ix_department_places_parent_code", table_name="department_places")
    op.drop_table("department_places")
