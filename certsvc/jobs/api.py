"""The batch engine interface: durable jobs with one row per item, run by some engine.

Services describe *what* to do per item (an :class:`ItemHandler`, built in each worker process
from a picklable :class:`TaskSpec`); an engine decides *where* it runs (:class:`JobEngine`; the
local process pool is ``jobs.local``). The jobs layer never imports services: it only resolves
the handler factory named in the task spec, so a distributed engine can run the same handlers
on other machines without touching the services.

Every state change of an item is one short transaction here, guarded by the item's claim
token, so a worker that lost its claim (it was presumed dead and its item handed out again)
cannot overwrite the newer outcome.
"""

from __future__ import annotations

import importlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.orm import Session

from certsvc.clock import Clock
from certsvc.domain.paging import Page, PageRequest
from certsvc.errors import CertsvcError, ConflictError, NotFoundError
from certsvc.metrics import BATCH_ITEMS
from certsvc.storage.database import Database
from certsvc.storage.orm_batch import BatchItem, BatchJob
from certsvc.storage.repositories_batch import BatchRepository

__all__ = [
    "MAX_ATTEMPTS",
    "ItemHandler",
    "ItemOutcome",
    "ItemState",
    "JobEngine",
    "JobProgress",
    "JobState",
    "PrepareHook",
    "ProgressCallback",
    "TaskSpec",
    "WorkItem",
    "claim_items",
    "ensure_runnable",
    "job_progress",
    "job_progress_page",
    "new_token",
    "process_item",
    "record_outcome",
]

_log = logging.getLogger("certsvc.jobs")

# An item handed out this often without an outcome has crashed its worker each time (a
# segfault in a native library, an out-of-memory kill): it is failed instead of retried forever.
MAX_ATTEMPTS = 3


class JobState(StrEnum):
    PENDING = "pending"  # planned, never run
    RUNNING = "running"  # a runner holds it, or held it and died (see heartbeat_at)
    COMPLETED = "completed"  # every item has an outcome
    CANCELLED = "cancelled"  # stopped on request; unfinished items stay pending


class ItemState(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class WorkItem:
    """One claimed item, detached from its session (safe to hand to a handler)."""

    id: int
    job_id: int
    seq: int
    key: str
    payload: Mapping[str, Any]
    token: str
    attempts: int

    @classmethod
    def of(cls, row: BatchItem) -> WorkItem:
        return cls(
            row.id,
            row.job_id,
            row.seq,
            row.key,
            dict(row.payload),
            row.claim_token or "",
            row.attempts,
        )


@dataclass(frozen=True, slots=True)
class ItemOutcome:
    """What became of an item. ``is_recorded``: the handler already stored it atomically with
    its own writes (via :func:`record_outcome` in its transaction)."""

    state: ItemState
    result: Mapping[str, Any] | None = None
    error_code: str | None = None
    error_message: str | None = None
    is_recorded: bool = False

    @classmethod
    def done(
        cls, result: Mapping[str, Any] | None = None, *, is_recorded: bool = False
    ) -> ItemOutcome:
        return cls(ItemState.DONE, result=result, is_recorded=is_recorded)

    @classmethod
    def skipped(
        cls, why: str, result: Mapping[str, Any] | None = None, *, is_recorded: bool = False
    ) -> ItemOutcome:
        return cls(
            ItemState.SKIPPED, result={"skipped": why, **(result or {})}, is_recorded=is_recorded
        )

    @classmethod
    def failed(cls, code: str, message: str, *, is_recorded: bool = False) -> ItemOutcome:
        return cls(
            ItemState.FAILED, error_code=code, error_message=message[:1000], is_recorded=is_recorded
        )


class ItemHandler(Protocol):
    """Does the work of one item; built once per worker process from a :class:`TaskSpec`."""

    @property
    def database(self) -> Database:
        """The database the handler writes to (the engine claims and records items in it)."""
        ...

    def handle(self, item: WorkItem) -> ItemOutcome:
        """Process one item. Raising ``CertsvcError`` fails the item with its code and message."""
        ...

    def close(self) -> None:
        """Release what the handler holds (connections, cached keys)."""
        ...

    # Optional: ``prepare(session, items)`` is called inside the claim transaction (see
    # ``claim_items``); a handler without it reads what it needs in ``handle``.


@dataclass(frozen=True)
class TaskSpec:
    """How to build the item handler in a worker process: ``factory(config)``.

    ``factory`` is a dotted ``module:function`` path and ``config`` a picklable mapping
    (settings included), so any process on any machine can build the same handler.
    """

    factory: str
    config: Mapping[str, Any] = field(default_factory=dict)

    def build(self) -> ItemHandler:
        module_name, _, attr = self.factory.partition(":")
        factory: Callable[[Mapping[str, Any]], ItemHandler] = getattr(
            importlib.import_module(module_name), attr
        )
        return factory(self.config)


@dataclass(frozen=True, slots=True)
class JobProgress:
    job_id: int
    kind: str
    state: str
    total: int
    pending: int
    running: int
    done: int
    skipped: int
    failed: int
    rate_per_second: float | None  # over the current run
    eta_seconds: float | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed


ProgressCallback = Callable[[JobProgress], None]


class JobEngine(Protocol):
    """Runs a job's items to completion (or until cancelled); returns the final progress."""

    def run(
        self,
        job_id: int,
        task: TaskSpec,
        *,
        workers: int,
        on_progress: ProgressCallback | None = None,
        handler: ItemHandler | None = None,
    ) -> JobProgress:
        """Raises:
        NotFoundError: no such job.
        ConflictError: the job is finished, cancelled, or being run by a live runner.
        """
        ...


def new_token() -> str:
    return secrets.token_hex(16)


PrepareHook = Callable[[Session, list[WorkItem]], None]


def claim_items(
    database: Database,
    job_id: int,
    *,
    runner_id: str,
    token: str,
    limit: int,
    now: datetime,
    prepare: PrepareHook | None = None,
) -> list[WorkItem]:
    """Claim up to ``limit`` pending items of a job that ``runner_id`` runs.

    None once the job is cancelled or another runner took it over: a stray worker of a dead
    runner stops at its next claim. The claim is one short write transaction (two statements);
    ``prepare`` (a handler's optional ``prepare`` method) then reads what the claimed items need
    in one read-only transaction (``Database.read``: on SQLite it takes no write lock, so it
    never queues behind, or holds up, the other workers' writes). What it reads may change
    before the item is handled: handlers check again in their write transaction.
    """
    with database.transaction() as session:
        repo = BatchRepository(session)
        holder = repo.holder(job_id)
        if holder is None or holder[0] != JobState.RUNNING or holder[1] != runner_id:
            return []
        items = [
            WorkItem(row.id, row.job_id, row.seq, row.key, row.payload, token, row.attempts)
            for row in repo.claim(job_id, token=token, limit=limit, now=now)
        ]
    if items and prepare is not None:
        with database.read() as session:
            prepare(session, items)
    return items


def record_outcome(
    session: Session, item: WorkItem, outcome: ItemOutcome, *, now: datetime
) -> bool:
    """Store ``outcome`` in the caller's transaction; False if the claim was lost meanwhile."""
    is_recorded = BatchRepository(session).finish(
        item.id,
        token=item.token,
        state=outcome.state.value,
        now=now,
        result=dict(outcome.result) if outcome.result is not None else None,
        error_code=outcome.error_code,
        error_message=outcome.error_message,
    )
    if is_recorded:
        BATCH_ITEMS.labels(outcome=outcome.state.value).inc()
    return is_recorded


def job_progress_page(session: Session, page: PageRequest, *, now: datetime) -> Page[JobProgress]:
    """One page of jobs, newest first, each with its progress."""
    repo = BatchRepository(session)
    return repo.jobs(page).map(lambda job: _progress(job, repo.counts(job.id), repo, now=now))


def process_item(handler: ItemHandler, item: WorkItem, *, clock: Clock) -> ItemOutcome:
    """Run the handler on one claimed item and store its outcome (unless the handler did)."""
    try:
        outcome = handler.handle(item)
    except CertsvcError as exc:
        outcome = ItemOutcome.failed(exc.code, exc.message)
    except Exception as exc:
        # The message of an unexpected error may hold paths or internals: the log gets
        # the traceback, the operator's failure report only the type.
        _log.exception("batch job %s item %s failed unexpectedly", item.job_id, item.id)
        outcome = ItemOutcome.failed("internal_error", f"unexpected error ({type(exc).__name__})")
    if not outcome.is_recorded:
        with handler.database.transaction() as session:
            record_outcome(session, item, outcome, now=clock.now())
    return outcome


def job_progress(session: Session, job_id: int, *, now: datetime) -> JobProgress:
    """State, counts, rate and ETA of a job.

    Raises:
        NotFoundError: no such job.
    """
    repo = BatchRepository(session)
    job = repo.job(job_id)
    if job is None:
        raise NotFoundError(f"no batch job {job_id}")
    return _progress(job, repo.counts(job_id), repo, now=now)


def _progress(
    job: BatchJob, counts: Mapping[str, int], repo: BatchRepository, *, now: datetime
) -> JobProgress:
    pending, running = counts.get("pending", 0), counts.get("running", 0)
    rate = eta = None
    if job.run_started_at is not None:
        elapsed = (
            (job.finished_at if job.state != JobState.RUNNING and job.finished_at else now)
            - job.run_started_at
        ).total_seconds()
        if elapsed > 0:
            in_run = repo.finished_since(job.id, job.run_started_at)
            rate = in_run / elapsed
            if rate > 0:
                eta = (pending + running) / rate
    return JobProgress(
        job_id=job.id,
        kind=job.kind,
        state=job.state,
        total=job.total,
        pending=pending,
        running=running,
        done=counts.get("done", 0),
        skipped=counts.get("skipped", 0),
        failed=counts.get("failed", 0),
        rate_per_second=rate,
        eta_seconds=eta,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


def ensure_runnable(
    job: BatchJob | None,
    job_id: int,
    *,
    now: datetime,
    stale_after_s: float,
    is_runner_alive: Callable[[str], bool | None] | None = None,
) -> BatchJob:
    """The job, if a new runner may take it over now.

    Raises:
        NotFoundError: no such job.
        ConflictError: it is completed or cancelled, or its runner is (or may be) alive.
    """
    if job is None:
        raise NotFoundError(f"no batch job {job_id}")
    if job.state == JobState.COMPLETED:
        raise ConflictError(f"batch job {job_id} is already completed", code="job_finished")
    if job.state == JobState.CANCELLED:
        raise ConflictError(f"batch job {job_id} was cancelled", code="job_cancelled")
    if job.state == JobState.RUNNING and job.heartbeat_at is not None and job.runner_id is not None:
        # The engine may know for sure (a runner on this machine whose process is gone); else
        # the heartbeat decides.
        alive = is_runner_alive(job.runner_id) if is_runner_alive is not None else None
        if alive is None:
            alive = (now - job.heartbeat_at).total_seconds() < stale_after_s
        if alive:
            raise ConflictError(
                f"batch job {job_id} is being run by another process (last seen "
                f"{(now - job.heartbeat_at).total_seconds():.0f} s ago)",
                code="job_running",
            )
    return job
