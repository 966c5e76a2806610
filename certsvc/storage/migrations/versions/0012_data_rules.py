"""data rules: licence numbers unique per department and type, stored issue answers, licence
types per department, seal purposes and an explicit default seal

Revision ID: 0012
Revises: 0001

An upgraded deployment keeps working as it did the moment before the upgrade:

- each department may issue the licence types it has already issued;
- the seal that signed new licences (the newest active one) becomes the department's default;
- every seal's purpose is its name (行政许可专用章 ...);
- the first licence holding a number keeps it; later licences that repeated the number (the
  registry did not refuse them before) keep their data but hold no number, so they do not
  block the upgrade, and a new licence with that number is refused as a duplicate of the first.

The number of a stored licence is read the way templates name it (``LicenceTemplate.number_field``):
the field ``licence_number``, else the first text field whose key ends in ``_number``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0001"
branch_labels = None
depends_on = None

_certificates = sa.table(
    "certificates",
    sa.column("id", sa.Integer()),
    sa.column("department_id", sa.Integer()),
    sa.column("type_code", sa.String()),
    sa.column("template", sa.String()),
    sa.column("data", sa.JSON()),
    sa.column("licence_number", sa.String()),
)
_seals = sa.table(
    "seals",
    sa.column("id", sa.Integer()),
    sa.column("department_id", sa.Integer()),
    sa.column("name", sa.String()),
    sa.column("status", sa.String()),
    sa.column("purpose", sa.String()),
    sa.column("is_default", sa.Boolean()),
)
_types = sa.table(
    "department_licence_types",
    sa.column("department_id", sa.Integer()),
    sa.column("template", sa.String()),
    sa.column("granted_at", sa.DateTime(timezone=True)),
)


def _number_in(data: Any) -> str | None:
    if not isinstance(data, dict):
        return None
    value = data.get("licence_number")
    if isinstance(value, str) and value:
        return value
    for key, value in data.items():
        if key.endswith("_number") and isinstance(value, str) and value:
            return value
    return None


def upgrade() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)

    op.add_column("certificates", sa.Column("licence_number", sa.String(length=64), nullable=True))
    op.add_column("certificates", sa.Column("issue_response", sa.JSON(), nullable=True))
    held: set[tuple[int, str, str]] = set()
    rows = bind.execute(
        sa.select(
            _certificates.c.id,
            _certificates.c.department_id,
            _certificates.c.type_code,
            _certificates.c.data,
        ).order_by(_certificates.c.id)
    ).all()
    for cert_id, department_id, type_code, data in rows:
        number = _number_in(data)
        if number is None or (department_id, type_code, number) in held:
            continue
        held.add((department_id, type_code, number))
        bind.execute(
            sa.update(_certificates)
            .where(_certificates.c.id == cert_id)
            .values(licence_number=number)
        )
    op.create_index(
        "uq_certificates_licence_number",
        "certificates",
        ["department_id", "type_code", "licence_number"],
        unique=True,
    )

    op.create_table(
        "department_licence_types",
        sa.Column("department_id", sa.Integer(), nullable=False),
        sa.Column("template", sa.String(length=64), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["departments.id"],
            name=op.f("fk_department_licence_types_department_id_departments"),
        ),
        sa.PrimaryKeyConstraint(
            "department_id", "template", name=op.f("pk_department_licence_types")
        ),
    )
    issued = bind.execute(
        sa.select(_certificates.c.department_id, _certificates.c.template).distinct()
    ).all()
    if issued:
        bind.execute(
            sa.insert(_types),
            [{"department_id": d, "template": t, "granted_at": now} for d, t in issued],
        )

    op.add_column(
        "seals", sa.Column("purpose", sa.String(length=100), nullable=False, server_default="")
    )
    op.add_column(
        "seals", sa.Column("is_default", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    bind.execute(sa.update(_seals).values(purpose=_seals.c.name))
    signing = (
        bind.execute(
            sa.select(sa.func.max(_seals.c.id))
            .where(_seals.c.status == "active")
            .group_by(_seals.c.department_id)
        )
        .scalars()
        .all()
    )
    if signing:
        bind.execute(
            sa.update(_seals).where(_seals.c.id.in_(list(signing))).values(is_default=True)
        )
    op.create_index(
        "uq_seals_department_default",
        "seals",
        ["department_id"],
        unique=True,
        sqlite_where=sa.text("is_default"),
        postgresql_where=sa.text("is_default"),
    )


def downgrade() -> None:
    op.drop_index("uq_seals_department_default", table_name="seals")
    with op.batch_alter_table("seals") as batch:
        batch.drop_column("is_default")
        batch.drop_column("purpose")
    op.drop_table("department_licence_types")
    op.drop_index("uq_certificates_licence_number", table_name="certificates")
    with op.batch_alter_table("certificates") as batch:
        batch.drop_column("issue_response")
        batch.drop_column("licence_number")
