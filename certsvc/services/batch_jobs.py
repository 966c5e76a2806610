"""Batch jobs as durable records: storing a planned job with its items, running or resuming it
through a :class:`~certsvc.jobs.api.JobEngine`, and reporting progress, failures and cancellation.

Planning what a job does (an import file, a re-signing selection) is ``services.batch``'s job;
every planner ends in :meth:`BatchJobs.create_planned_job` or ``_store_job`` here, so a job is
stored, fingerprinted and resumed the same way whatever planned it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from certsvc.domain.paging import Page, PageRequest
from certsvc.errors import (
    ConflictError,
    JobEngineError,
    NotFoundError,
)
from certsvc.jobs.api import (
    ItemHandler,
    ItemState,
    JobEngine,
    JobProgress,
    JobState,
    ProgressCallback,
    TaskSpec,
    job_progress,
    job_progress_page,
)
from certsvc.jobs.celery_engine import CeleryEngine
from certsvc.jobs.local import LocalPoolEngine
from certsvc.services.audit import append_audit_event
from certsvc.services.batch_import import (
    ImportHandler,
)
from certsvc.services.batch_resign import ResignHandler
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role, require_role
from certsvc.storage.orm_batch import BatchJob
from certsvc.storage.repositories_jobs import BatchRepository

__all__ = [
    "HANDLER_FACTORIES",
    "ITEM_INSERT_CHUNK",
    "BatchJobs",
    "BatchKind",
    "FailureRow",
    "JobCreated",
    "item_row",
    "job_engine",
    "job_fingerprint",
]

ITEM_INSERT_CHUNK = 1000  # rows per INSERT: bounded memory for a file of a million rows


class BatchKind:
    IMPORT = "import"
    RESIGN = "resign"
    LTV_RENEW = "ltv-renew"  # services/ltv_renewal.py


# Which handler runs each kind of job: the local engine's workers and every Celery worker
# build it from here (``TaskSpec(factory, {"settings", "job_id", "params"})``).
HANDLER_FACTORIES: dict[str, str] = {
    BatchKind.IMPORT: "certsvc.services.batch_import:build_import_handler",
    BatchKind.RESIGN: "certsvc.services.batch_resign:build_resign_handler",
    BatchKind.LTV_RENEW: "certsvc.services.ltv_renewal:build_ltv_renew_handler",
    # Seal rollout jobs (services/seal_rollout.py) can be resumed through ``batch run`` as well.
    "seal-rollout": "certsvc.services.seal_rollout:build_seal_rollout_handler",
}


@dataclass(frozen=True, slots=True)
class JobCreated:
    job_id: int
    is_existing: bool  # an unfinished job of the same command was found and is reused
    total: int


@dataclass(frozen=True, slots=True)
class FailureRow:
    seq: int  # import: the row number in the file
    key: str  # import: the record number; resign: the licence identifier
    error_code: str
    error_message: str


class BatchJobs:
    """Storing, running and reporting jobs; ``services.batch.BatchService`` adds the planners."""

    def __init__(self, ctx: ServiceContext, *, engine: JobEngine | None = None) -> None:
        self.ctx = ctx
        self.engine = engine or job_engine(ctx)

    @property
    def is_queued(self) -> bool:
        """Whether jobs go to worker nodes (``submit``) instead of running where they start."""
        return isinstance(self.engine, CeleryEngine)

    # --- running and reporting ------------------------------------------------------------------
    def run(
        self,
        job_id: int,
        *,
        principal: Principal,
        workers: int,
        on_progress: ProgressCallback | None = None,
    ) -> JobProgress:
        """Run (or resume) a job until every item has an outcome or it is cancelled.

        ``workers=0`` runs in this thread with this process's context (tests, small jobs).

        Raises:
            PermissionDeniedError: the caller is not an operator.
            NotFoundError: no such job.
            ConflictError: the job is completed, cancelled, or running in a live process.
        """
        require_role(principal, Role.OPERATOR)
        kind, params = self._audit_start(job_id, principal)
        task = TaskSpec(
            HANDLER_FACTORIES[kind],
            {"settings": self.ctx.settings, "job_id": job_id, "params": params},
        )
        handler: ItemHandler | None = None
        if workers <= 0:
            # Imported here: the renewal service plans its jobs through this module.
            from certsvc.services.ltv_renewal import LtvRenewHandler

            inline: dict[str, type[ImportHandler | ResignHandler | LtvRenewHandler]] = {
                BatchKind.IMPORT: ImportHandler, BatchKind.RESIGN: ResignHandler, BatchKind.LTV_RENEW: LtvRenewHandler,
            }  # fmt: skip
            # Another kind (a seal rollout) gets its handler from the task spec.
            handler_class = inline.get(kind)
            if handler_class is not None:
                handler = handler_class(self.ctx, job_id=job_id, params=params, owns_context=False)
        return self.engine.run(
            job_id, task, workers=workers, on_progress=on_progress, handler=handler
        )

    def submit(self, job_id: int, *, principal: Principal) -> JobProgress:
        """Hand a job to the worker nodes and return at once (the Celery engine only).

        Raises:
            PermissionDeniedError: the caller is not an operator.
            NotFoundError: no such job.
            ConflictError: the job is completed, cancelled, or running in a live local process.
            JobEngineError: this deployment runs jobs where they start (no worker nodes).
        """
        require_role(principal, Role.OPERATOR)
        if not isinstance(self.engine, CeleryEngine):
            raise JobEngineError(
                "jobs run in the process that starts them here (CERTSVC_JOB_ENGINE=local)"
            )
        self._audit_start(job_id, principal)
        return self.engine.submit(job_id)

    def _audit_start(self, job_id: int, principal: Principal) -> tuple[str, dict[str, Any]]:
        with self.ctx.database.transaction() as session:
            job = BatchRepository(session).job(job_id)
            if job is None:
                raise NotFoundError(f"no batch job {job_id}")
            kind, params = job.kind, dict(job.params)
            if job.state == JobState.PENDING:
                append_audit_event(
                    session,
                    at=self.ctx.clock.now(),
                    actor=principal,
                    action=f"batch.{kind}",
                    target=f"batch:{job_id}",
                    details={"total": job.total},
                )
        return kind, params

    def status(self, job_id: int, *, principal: Principal) -> JobProgress:
        """State, counts, rate and ETA of a job.

        Raises:
            PermissionDeniedError: the caller is not an operator.
            NotFoundError: no such job.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.transaction() as session:
            return job_progress(session, job_id, now=self.ctx.clock.now())

    def open_items(self) -> dict[tuple[str, str], int]:
        """(job kind, item state) -> items of the jobs not finished yet: the backlog ``/metrics`` shows."""
        with self.ctx.database.read() as session:
            return BatchRepository(session).open_item_counts()

    def jobs(self, *, principal: Principal, page: PageRequest) -> Page[JobProgress]:
        """Raises: PermissionDeniedError: the caller is not an operator."""
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            return job_progress_page(session, page, now=self.ctx.clock.now())

    def failures(self, job_id: int, *, principal: Principal) -> Iterator[FailureRow]:
        """Every failed item of a job, in order, streamed in pages.

        Raises:
            PermissionDeniedError: the caller is not an operator.
            NotFoundError: no such job.
        """
        require_role(principal, Role.OPERATOR)
        self.status(job_id, principal=principal)  # NotFoundError before the first row
        return self._failures(job_id)

    def _failures(self, job_id: int) -> Iterator[FailureRow]:
        after = 0
        while True:
            with self.ctx.database.transaction() as session:
                page = [
                    (
                        row.id,
                        FailureRow(row.seq, row.key, row.error_code or "", row.error_message or ""),
                    )
                    for row in BatchRepository(session).failures(job_id, after_id=after, limit=500)
                ]
            if not page:
                return
            after = page[-1][0]
            yield from (row for _, row in page)

    def cancel(self, job_id: int, *, principal: Principal) -> JobProgress:
        """Stop a job: workers stop at their next claim; pending items stay pending.

        Raises:
            PermissionDeniedError: the caller is not an operator.
            NotFoundError: no such job.
            ConflictError: the job is already completed.
        """
        require_role(principal, Role.OPERATOR)
        now = self.ctx.clock.now()
        with self.ctx.database.transaction() as session:
            job = BatchRepository(session).job(job_id)
            if job is None:
                raise NotFoundError(f"no batch job {job_id}")
            if job.state == JobState.COMPLETED:
                raise ConflictError(f"batch job {job_id} is already completed", code="job_finished")
            if job.state != JobState.CANCELLED:
                job.state = JobState.CANCELLED.value
                job.finished_at = now
                append_audit_event(
                    session,
                    at=now,
                    actor=principal,
                    action="batch.cancel",
                    target=f"batch:{job_id}",
                )
            return job_progress(session, job_id, now=now)

    # --- storing jobs ------------------------------------------------------------------------------
    def unfinished_job(self, kind: str, command: Mapping[str, Any]) -> JobCreated | None:
        """The unfinished job that the same command (kind and parameters) planned, if any: a
        rerun resumes it instead of planning again."""
        with self.ctx.database.read() as session:
            existing = BatchRepository(session).unfinished_by_fingerprint(
                job_fingerprint(kind, command)
            )
            return JobCreated(existing.id, True, existing.total) if existing is not None else None

    def create_planned_job(
        self,
        kind: str,
        command: Mapping[str, Any],
        params: Mapping[str, Any],
        items: list[dict[str, Any]],
        *,
        principal: Principal,
    ) -> JobCreated:
        """Store a job whose items another service planned (``{"seq", "key", "payload"}`` each);
        ``command`` identifies it for :meth:`unfinished_job`, ``params`` reach its handler.

        Raises:
            PermissionDeniedError: not an operator.
        """
        require_role(principal, Role.OPERATOR)
        stored = {**params, "actor_client_id": principal.client_id, "actor_name": principal.name}
        fingerprint = job_fingerprint(kind, command)
        return self._store_job(
            kind,
            stored,
            fingerprint,
            principal,
            now=self.ctx.clock.now(),
            total=len(items),
            items=iter(items),
        )

    def _add_job(
        self,
        session: Any,
        kind: str,
        params: dict[str, Any],
        fingerprint: str,
        principal: Principal,
        *,
        now: datetime,
    ) -> BatchJob:
        return BatchRepository(session).add_job(
            BatchJob(
                kind=kind,
                state=JobState.PENDING.value,
                params=params,
                fingerprint=fingerprint,
                created_by=principal.label,
                created_by_client_id=principal.client_id,
                created_at=now,
                total=0,
                run_base_finished=0,
            )
        )

    def _store_job(
        self,
        kind: str,
        params: dict[str, Any],
        fingerprint: str,
        principal: Principal,
        *,
        now: datetime,
        total: int,
        items: Iterator[dict[str, Any]],
    ) -> JobCreated:
        # One transaction for the job and all its items (streamed from the spool in chunks).
        with self.ctx.database.transaction() as session:
            job = self._add_job(session, kind, params, fingerprint, principal, now=now)
            job.total = total
            repo = BatchRepository(session)
            chunk: list[dict[str, object]] = []
            for item in items:
                chunk.append(item_row(job.id, item, now=now))
                if len(chunk) >= ITEM_INSERT_CHUNK:
                    repo.add_items(chunk)
                    chunk = []
            repo.add_items(chunk)
            return JobCreated(job.id, False, total)


def item_row(job_id: int, item: Mapping[str, Any], *, now: datetime) -> dict[str, object]:
    failed = item.get("state") == ItemState.FAILED
    return {
        "job_id": job_id,
        "seq": item["seq"],
        "key": str(item["key"])[:200],
        "payload": item.get("payload", {}),
        "state": item.get("state", ItemState.PENDING.value),
        "attempts": 0,
        "error_code": item.get("error_code"),
        "error_message": item.get("error_message"),
        "claim_token": None,
        "claimed_at": None,
        "finished_at": now if failed else None,  # a row refused while planning is finished
        "result": None,
    }


def job_fingerprint(kind: str, params: Mapping[str, Any], *, file: Path | None = None) -> str:
    digest = hashlib.sha256(json.dumps([kind, params], sort_keys=True, default=str).encode())
    if file is not None:
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def job_engine(ctx: ServiceContext) -> JobEngine:
    """The engine the settings choose: the local process pool, or Celery worker nodes."""
    settings = ctx.settings
    if settings.job_engine == "celery" and settings.broker_url:
        return CeleryEngine(
            ctx.database,
            broker_url=settings.broker_url,
            clock=ctx.clock,
            lease_seconds=settings.job_lease_seconds,
            stall_seconds=settings.job_stall_seconds,
            chunk=settings.job_dispatch_chunk,
        )
    return LocalPoolEngine(ctx.database, clock=ctx.clock)
