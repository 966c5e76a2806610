"""batch jobs and their items

Revision ID: 0004
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0001"
branch_labels = None
depends_on = None

_UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "batch_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_by_client_id", sa.Integer(), nullable=True),
        sa.Column("created_at", _UTC_DT, nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("started_at", _UTC_DT, nullable=True),
        sa.Column("finished_at", _UTC_DT, nullable=True),
        sa.Column("runner_id", sa.String(length=64), nullable=True),
        sa.Column("heartbeat_at", _UTC_DT, nullable=True),
        sa.Column("run_started_at", _UTC_DT, nullable=True),
        sa.Column("run_base_finished", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_jobs")),
    )
    op.create_index(op.f("ix_batch_jobs_state"), "batch_jobs", ["state"], unique=False)
    op.create_index(op.f("ix_batch_jobs_fingerprint"), "batch_jobs", ["fingerprint"], unique=False)
    op.create_table(
        "batch_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("claim_token", sa.String(length=32), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_at", _UTC_DT, nullable=True),
        sa.Column("finished_at", _UTC_DT, nullable=True),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("error_code", sa.String(length=50), nullable=True),
        sa.Column("error_message", sa.String(length=1000), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["batch_jobs.id"], name=op.f("fk_batch_items_job_id_batch_jobs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batch_items")),
        sa.UniqueConstraint("job_id", "seq", name=op.f("uq_batch_items_job_id")),
    )
    op.create_index("ix_batch_items_job_state", "batch_items", ["job_id", "state"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_batch_items_job_state", table_name="batch_items")
    op.drop_table("batch_items")
    op.drop_index(op.f("ix_batch_jobs_fingerprint"), table_name="batch_jobs")
    op.drop_index(op.f("ix_batch_jobs_state"), table_name="batch_jobs")
    op.drop_table("batch_jobs")
