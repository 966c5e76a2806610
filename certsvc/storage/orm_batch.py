"""Tables of batch work: one row per job, one row per item of a job.

The item rows are the durable state of a job: a worker claims items by moving them from
``pending`` to ``running`` with its claim token, and finishes each in its own transaction.
Whatever a crash leaves ``running`` is handed out again when the job is resumed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from certsvc.storage.orm import Base

__all__ = ["BatchItem", "BatchJob"]


class BatchJob(Base):
    __tablename__ = "batch_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))  # "import" | "resign"
    state: Mapped[str] = mapped_column(String(20), index=True)  # JobState value
    # What the job does (template, department, seal ids, filters); JSON so kinds can differ.
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    # SHA-256 of kind + params (+ the import file): running the same command again finds the
    # unfinished job instead of starting a second one.
    fingerprint: Mapped[str] = mapped_column(String(64), index=True)
    created_by: Mapped[str] = mapped_column(String(100))  # principal label
    created_by_client_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column()
    total: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The process currently running the job, and when it last said so: a resume takes over
    # only when the heartbeat is stale, so two runners never share a job by accident.
    runner_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # Start of the current run and how many items were finished before it: the rate and ETA
    # are measured over this run only, not diluted by time the job spent interrupted.
    run_started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    run_base_finished: Mapped[int] = mapped_column(Integer, default=0)


class BatchItem(Base):
    __tablename__ = "batch_items"
    __table_args__ = (
        UniqueConstraint("job_id", "seq"),
        Index("ix_batch_items_job_state", "job_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("batch_jobs.id"))
    seq: Mapped[int] = mapped_column(Integer)  # import: the row number in the file; resign: ordinal
    key: Mapped[str] = mapped_column(
        String(200)
    )  # import: source record number; resign: licence id
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(20))  # ItemState value
    claim_token: Mapped[str | None] = mapped_column(String(32), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error_code: Mapped[str | None] = mapped_column(String(50), nullable=True)
    error_message: Mapped[str | None] = mapped_column(String(1000), nullable=True)
