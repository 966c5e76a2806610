"""regional connection: the upstream outbox of a member, the members and copies of a hub

Revision ID: 0023_connector
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023_connector"
down_revision = "0001"
branch_labels = None
depends_on = None

_UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "upstream_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("certificate_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status_after", sa.String(length=20), nullable=False),
        sa.Column("created_at", _UTC_DT, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _UTC_DT, nullable=True),
        sa.Column("last_attempt_at", _UTC_DT, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("delivered_at", _UTC_DT, nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", _UTC_DT, nullable=True),
        sa.ForeignKeyConstraint(
            ["certificate_id"],
            ["certificates.id"],
            name=op.f("fk_upstream_outbox_certificate_id_certificates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_outbox")),
        sa.UniqueConstraint("delivery_id", name=op.f("uq_upstream_outbox_delivery_id")),
        sa.UniqueConstraint(
            "certificate_id", "sequence", name="uq_upstream_outbox_certificate_sequence"
        ),
    )
    op.create_index("ix_upstream_outbox_status", "upstream_outbox", ["status", "next_attempt_at"])
    op.create_table(
        "hub_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("credential_sha256", sa.String(length=64), nullable=False),
        sa.Column("trust_roots_pem", sa.Text(), nullable=False),
        sa.Column("created_at", _UTC_DT, nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_members")),
        sa.UniqueConstraint("name", name=op.f("uq_hub_members_name")),
    )
    op.create_table(
        "hub_licences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("identifier_base", sa.String(length=120), nullable=False),
        sa.Column("identifier", sa.String(length=130), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("type_code", sa.String(length=21), nullable=False),
        sa.Column("holder_code", sa.String(length=18), nullable=False),
        sa.Column("issuer_code", sa.String(length=18), nullable=False),
        sa.Column("issuer_name", sa.String(length=200), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.Column("updated_at", _UTC_DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["hub_members.id"], name=op.f("fk_hub_licences_member_id_hub_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_licences")),
        sa.UniqueConstraint("member_id", "identifier_base", name="uq_hub_licences_member_base"),
    )
    op.create_index("ix_hub_licences_holder", "hub_licences", ["holder_code"])
    op.create_index(op.f("ix_hub_licences_identifier"), "hub_licences", ["identifier"])
    op.create_index(op.f("ix_hub_licences_type_code"), "hub_licences", ["type_code"])
    op.create_table(
        "hub_licence_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("licence_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("identifier", sa.String(length=130), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("received_at", _UTC_DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["licence_id"],
            ["hub_licences.id"],
            name=op.f("fk_hub_licence_files_licence_id_hub_licences"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_licence_files")),
        sa.UniqueConstraint("licence_id", "version", name="uq_hub_licence_files_licence_version"),
    )
    op.create_index(op.f("ix_hub_licence_files_licence_id"), "hub_licence_files", ["licence_id"])
    op.create_index(op.f("ix_hub_licence_files_sha256"), "hub_licence_files", ["sha256"])
    op.create_table(
        "hub_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=36), nullable=False),
        sa.Column("licence_id", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("status_after", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("received_at", _UTC_DT, nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["hub_members.id"], name=op.f("fk_hub_deliveries_member_id_hub_members")
        ),
        sa.ForeignKeyConstraint(
            ["licence_id"],
            ["hub_licences.id"],
            name=op.f("fk_hub_deliveries_licence_id_hub_licences"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hub_deliveries")),
        sa.UniqueConstraint("member_id", "delivery_id", name="uq_hub_deliveries_member_delivery"),
    )
    op.create_index(op.f("ix_hub_deliveries_licence_id"), "hub_deliveries", ["licence_id"])


def downgrade() -> None:
    op.drop_table("hub_deliveries")
    op.drop_table("hub_licence_files")
    op.drop_table("hub_licences")
    op.drop_table("hub_members")
    op.drop_table("upstream_outbox")
