"""sharing: holder authorizations, usage records, spent holder token ids

Revision ID: 0005
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sharing_authorizations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=16), nullable=False),
        sa.Column("holder_id_type", sa.String(length=20), nullable=False),
        sa.Column("holder_id", sa.String(length=18), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("type_code", sa.String(length=21), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("is_single_use", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("use_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_sharing_authorizations_certificate_id_certificates"),
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_sharing_authorizations_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_authorizations")),
        sa.UniqueConstraint("code", name=op.f("uq_sharing_authorizations_code")),
    )
    op.create_index(
        "ix_sharing_authorizations_holder",
        "sharing_authorizations",
        ["holder_id_type", "holder_id"],
    )
    op.create_index(
        op.f("ix_sharing_authorizations_department_id"), "sharing_authorizations", ["department_id"]
    )
    op.create_table(
        "sharing_usage_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operation", sa.String(length=20), nullable=False),
        sa.Column("result", sa.String(length=50), nullable=False),
        sa.Column("department_id", sa.Integer(), nullable=True),
        sa.Column("department_code", sa.String(length=18), nullable=True),
        sa.Column("client_id", sa.Integer(), nullable=True),
        sa.Column("client_name", sa.String(length=100), nullable=True),
        sa.Column("holder_id_type", sa.String(length=20), nullable=True),
        sa.Column("holder_id", sa.String(length=18), nullable=True),
        sa.Column("authorization_id", sa.Integer(), nullable=True),
        sa.Column("certificate_id", sa.Integer(), nullable=True),
        sa.Column("certificate_identifier", sa.String(length=130), nullable=True),
        sa.Column("type_code", sa.String(length=21), nullable=True),
        sa.Column("application_no", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("audit_event_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sharing_usage_records")),
    )
    op.create_index(
        "ix_sharing_usage_records_holder", "sharing_usage_records", ["holder_id_type", "holder_id"]
    )
    op.create_index(op.f("ix_sharing_usage_records_at"), "sharing_usage_records", ["at"])
    op.create_index(
        op.f("ix_sharing_usage_records_department_id"), "sharing_usage_records", ["department_id"]
    )
    op.create_index(
        op.f("ix_sharing_usage_records_certificate_id"), "sharing_usage_records", ["certificate_id"]
    )
    op.create_table(
        "holder_token_uses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("jti_sha256", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_holder_token_uses")),
        sa.UniqueConstraint("jti_sha256", name=op.f("uq_holder_token_uses_jti_sha256")),
    )
    op.create_index(op.f("ix_holder_token_uses_expires_at"), "holder_token_uses", ["expires_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_holder_token_uses_expires_at"), table_name="holder_token_uses")
    op.drop_table("holder_token_uses")
    for name in ("certificate_id", "department_id", "at"):
        op.drop_index(op.f(f"ix_sharing_usage_records_{name}"), table_name="sharing_usage_records")
    op.drop_index("ix_sharing_usage_records_holder", table_name="sharing_usage_records")
    op.drop_table("sharing_usage_records")
    op.drop_index(
        op.f("ix_sharing_authorizations_department_id"), table_name="sharing_authorizations"
    )
    op.drop_index("ix_sharing_authorizations_holder", table_name="sharing_authorizations")
    op.drop_table("sharing_authorizations")
