"""Queries for batch jobs and their items: planning, claiming, finishing, recovering and
reporting, for every kind of job. Repositories never commit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, insert, select, update
from sqlalchemy.orm import Session

from certsvc.domain.paging import Page, PageRequest
from certsvc.storage.orm_batch import BatchItem, BatchJob
from certsvc.storage.paging import read_page

__all__ = ["BatchRepository", "ClaimedItem"]


@dataclass(frozen=True, slots=True)
class ClaimedItem:
    id: int
    job_id: int
    seq: int
    key: str
    payload: dict[str, Any]
    attempts: int


class BatchRepository:
    """Jobs and their items. Claiming and finishing are single statements guarded by state."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_job(self, job: BatchJob) -> BatchJob:
        self.session.add(job)
        self.session.flush()
        return job

    def open_item_counts(self) -> dict[tuple[str, str], int]:
        """(job kind, item state) -> items, over the jobs not finished yet (pending or running)."""
        rows = self.session.execute(
            select(BatchJob.kind, BatchItem.state, func.count())
            .join(BatchJob, BatchJob.id == BatchItem.job_id)
            .where(BatchJob.state.in_(("pending", "running")))
            .group_by(BatchJob.kind, BatchItem.state)
        )
        return {(str(kind), str(state)): int(count) for kind, state, count in rows}

    def jobs(self, page: PageRequest) -> Page[BatchJob]:
        """Newest job first."""
        return read_page(self.session, select(BatchJob), BatchJob.id, page)

    def job(self, job_id: int) -> BatchJob | None:
        return self.session.get(BatchJob, job_id)

    def unfinished_by_fingerprint(self, fingerprint: str) -> BatchJob | None:
        return self.session.scalar(
            select(BatchJob)
            .where(BatchJob.fingerprint == fingerprint, BatchJob.state.in_(("pending", "running")))
            .order_by(BatchJob.id.desc())
            .limit(1)
        )

    def add_items(self, rows: Sequence[dict[str, object]]) -> None:
        """Bulk insert of item rows (plain dicts: one executemany, no ORM objects kept)."""
        if rows:
            self.session.execute(insert(BatchItem), list(rows))

    def counts(self, job_id: int) -> dict[str, int]:
        rows = self.session.execute(
            select(BatchItem.state, func.count())
            .where(BatchItem.job_id == job_id)
            .group_by(BatchItem.state)
        ).all()
        return {str(state): int(n) for state, n in rows}

    def finished_since(self, job_id: int, since: datetime) -> int:
        return int(
            self.session.scalar(
                select(func.count()).where(
                    BatchItem.job_id == job_id,
                    BatchItem.finished_at.is_not(None),
                    BatchItem.finished_at >= since,
                )
            )
            or 0
        )

    def touch(self, job_id: int, *, runner_id: str, now: datetime) -> bool:
        """Refresh the heartbeat if ``runner_id`` still runs the job; whether it does."""
        done = self.session.execute(
            update(BatchJob)
            .where(
                BatchJob.id == job_id, BatchJob.runner_id == runner_id, BatchJob.state == "running"
            )
            .values(heartbeat_at=now),
            execution_options={"synchronize_session": False},
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def holder(self, job_id: int) -> tuple[str, str | None] | None:
        """(state, runner_id) of a job, without loading the row into the session."""
        row = self.session.execute(
            select(BatchJob.state, BatchJob.runner_id).where(BatchJob.id == job_id)
        ).first()
        return None if row is None else (str(row[0]), row[1])

    def claim(self, job_id: int, *, token: str, limit: int, now: datetime) -> list[ClaimedItem]:
        """Move up to ``limit`` pending items to running under ``token``; returns them by id.

        One statement (UPDATE … RETURNING): the caller's transaction holds the write lock on
        SQLite (BEGIN IMMEDIATE) for as short a time as possible; on PostgreSQL ``SKIP LOCKED``
        lets concurrent workers take different items.
        """
        ids = (
            select(BatchItem.id)
            .where(BatchItem.job_id == job_id, BatchItem.state == "pending")
            .order_by(BatchItem.id)
            .limit(limit)
        )
        return self._take(ids, BatchItem.state == "pending", token=token, now=now)

    def claim_range(
        self,
        job_id: int,
        *,
        first_id: int,
        last_id: int,
        token: str,
        now: datetime,
        stale_before: datetime,
        max_attempts: int,
    ) -> list[ClaimedItem]:
        """Claim the items of a job with ids in ``first_id..last_id`` that nobody is working on:
        pending ones, and running ones whose claim is older than ``stale_before`` (their worker
        is presumed dead). A stale item already handed out ``max_attempts`` times is failed
        instead: it keeps killing its workers.

        Used by engines that dispatch ranges of items as messages (Celery): a message may be
        delivered twice or after its worker died, and the claim decides who works on an item.
        """
        in_range = (BatchItem.job_id == job_id, BatchItem.id >= first_id, BatchItem.id <= last_id)
        stale = (BatchItem.state == "running") & (BatchItem.claimed_at < stale_before)
        self.session.execute(
            update(BatchItem)
            .where(*in_range, stale, BatchItem.attempts >= max_attempts)
            .values(
                state="failed",
                finished_at=now,
                error_code="worker_crashed",
                error_message=f"the worker stopped while processing this item {max_attempts} times",
            )
        )
        free = (BatchItem.state == "pending") | stale
        ids = select(BatchItem.id).where(*in_range, free).order_by(BatchItem.id)
        return self._take(ids, free, token=token, now=now)

    def _take(
        self, ids: Select[int], still_free: ColumnElement[bool], *, token: str, now: datetime
    ) -> list[ClaimedItem]:
        """Mark the items ``ids`` picks, those still ``still_free``, running under ``token``;
        returns them by id. One statement (UPDATE … RETURNING), on the session's connection: a
        Core statement, without the ORM's bookkeeping."""
        if self.session.get_bind().dialect.name == "postgresql":
            # The ids are picked once, in a materialised CTE: PostgreSQL may otherwise run an
            # ``IN (SELECT … LIMIT n FOR UPDATE SKIP LOCKED)`` subquery again per outer row and
            # hand out more than asked. SKIP LOCKED lets concurrent workers pass over the rows
            # another claim is taking instead of queueing behind it.
            picked = ids.with_for_update(skip_locked=True).cte("picked").prefix_with("MATERIALIZED")
            statement = update(BatchItem).where(BatchItem.id == picked.c.id, still_free)
        else:
            statement = update(BatchItem).where(BatchItem.id.in_(ids.scalar_subquery()), still_free)
        claimed = dict(state="running", claim_token=token, claimed_at=now, attempts=BatchItem.attempts + 1)
        returned = (BatchItem.id, BatchItem.job_id, BatchItem.seq, BatchItem.key, BatchItem.payload, BatchItem.attempts)
        rows = self.session.connection().execute(statement.values(**claimed).returning(*returned)).all()
        return sorted(
            (ClaimedItem(int(r[0]), int(r[1]), int(r[2]), str(r[3]), dict(r[4] or {}), int(r[5])) for r in rows),
            key=lambda item: item.id,
        )

    def unfinished_ids(self, job_id: int) -> Iterator[int]:
        """Ids of the items without an outcome (pending or running), in order, streamed."""
        result = self.session.execute(
            select(BatchItem.id)
            .where(BatchItem.job_id == job_id, BatchItem.state.in_(("pending", "running")))
            .order_by(BatchItem.id)
            .execution_options(yield_per=5000)
        )
        for (item_id,) in result:
            yield int(item_id)

    def complete_if_done(self, job_id: int, *, runner_id: str, now: datetime) -> bool:
        """Mark a running job completed when no item is left without an outcome (one guarded
        UPDATE, so two workers finishing the last items at once complete it once)."""
        unfinished = (
            select(BatchItem.id)
            .where(BatchItem.job_id == job_id, BatchItem.state.in_(("pending", "running")))
            .limit(1)
            .exists()
        )
        done = self.session.execute(
            update(BatchJob)
            .where(
                BatchJob.id == job_id,
                BatchJob.state == "running",
                BatchJob.runner_id == runner_id,
                ~unfinished,
            )
            .values(state="completed", finished_at=now, heartbeat_at=None)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def stalled_jobs(
        self, *, runner_prefix: str, quiet_since: datetime
    ) -> list[tuple[int, str, datetime | None]]:
        """Running jobs of an engine (runner ids starting ``runner_prefix``) whose heartbeat is
        older than ``quiet_since``: (id, runner id, heartbeat)."""
        rows = self.session.execute(
            select(BatchJob.id, BatchJob.runner_id, BatchJob.heartbeat_at).where(
                BatchJob.state == "running",
                BatchJob.runner_id.startswith(runner_prefix),
                (BatchJob.heartbeat_at.is_(None)) | (BatchJob.heartbeat_at < quiet_since),
            )
        ).all()
        return [(int(r[0]), str(r[1]), r[2]) for r in rows]

    def take_stalled(self, job_id: int, *, heartbeat_was: datetime | None, now: datetime) -> bool:
        """Move a stalled job's heartbeat to ``now`` if it is still ``heartbeat_was``: of several
        sweepers that saw the job stalled, exactly one wins and dispatches it again."""
        held = (
            BatchJob.heartbeat_at.is_(None)
            if heartbeat_was is None
            else BatchJob.heartbeat_at == heartbeat_was
        )
        done = self.session.execute(
            update(BatchJob)
            .where(BatchJob.id == job_id, BatchJob.state == "running", held)
            .values(heartbeat_at=now)
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

    def finish(
        self,
        item_id: int,
        *,
        token: str,
        state: str,
        now: datetime,
        result: dict[str, object] | None,
        error_code: str | None,
        error_message: str | None,
    ) -> bool:
        """Record an item's outcome if ``token`` still holds it; False when it does not."""
        done = self.session.connection().execute(
            _FINISH_ITEM,
            {
                "item_id": item_id,
                "token": token,
                "new_state": state,
                "now": now,
                "new_result": result,
                "new_error_code": error_code,
                "new_error_message": error_message,
            },
        )
        return bool(done.rowcount)

    def release_running(self, job_id: int) -> int:
        """Hand every in-flight item back to the queue (its runner is gone)."""
        released = self.session.execute(
            update(BatchItem)
            .where(BatchItem.job_id == job_id, BatchItem.state == "running")
            .values(state="pending", claim_token=None)
        )
        return int(released.rowcount)  # type: ignore[attr-defined]

    def fail_exhausted(self, job_id: int, *, max_attempts: int, now: datetime) -> int:
        """Fail pending items that already took down a worker ``max_attempts`` times."""
        failed = self.session.execute(
            update(BatchItem)
            .where(
                BatchItem.job_id == job_id,
                BatchItem.state == "pending",
                BatchItem.attempts >= max_attempts,
            )
            .values(
                state="failed",
                finished_at=now,
                error_code="worker_crashed",
                error_message=f"the worker stopped while processing this item {max_attempts} times",
            )
        )
        return int(failed.rowcount)  # type: ignore[attr-defined]

    def failures(self, job_id: int, *, after_id: int = 0, limit: int = 1000) -> Sequence[BatchItem]:
        return self.session.scalars(
            select(BatchItem)
            .where(BatchItem.job_id == job_id, BatchItem.state == "failed", BatchItem.id > after_id)
            .order_by(BatchItem.id)
            .limit(limit)
        ).all()


# An item's finishing statement, built once: it runs under the write lock, as a Core statement
# on the session's connection (no ORM bookkeeping, compiled once).
_FINISH_ITEM = (
    update(BatchItem)
    .where(
        BatchItem.id == bindparam("item_id"),
        BatchItem.claim_token == bindparam("token"),
        BatchItem.state == "running",
    )
    .values(
        state=bindparam("new_state"),
        finished_at=bindparam("now"),
        result=bindparam("new_result"),
        error_code=bindparam("new_error_code"),
        error_message=bindparam("new_error_message"),
    )
)
