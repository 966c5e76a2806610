"""Batch work for operators: import licence records (存量出证) and re-sign licences (批量签章).

Every batch is a durable job with one row per item (``storage.orm_batch``). This service plans
jobs (a dry run reports the plan without storing anything), creates them, runs or resumes them
through a :class:`~certsvc.jobs.api.JobEngine` (the local process pool by default) and reports
progress and failures. The per-item work lives in ``batch_import.ImportHandler`` and
``batch_resign.ResignHandler``; worker processes build those from a picklable ``TaskSpec``.

Running the same command again finds the unfinished job with the same fingerprint and resumes
it instead of planning a second one.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from certsvc.domain.paging import Page, PageRequest
from certsvc.errors import (
    BadRequestError,
    ConflictError,
    JobEngineError,
    NotFoundError,
    ValidationFailedError,
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
    ImportReport,
    check_rows,
    import_idempotency_key,
    read_table,
    resolve_columns,
)
from certsvc.services.batch_resign import SKIP_STATUSES, ResignHandler
from certsvc.services.context import ServiceContext
from certsvc.services.issuance_rules import require_licence_type
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.provisioning import department_by_code
from certsvc.services.revocation import RevocationService, record_key_compromise
from certsvc.storage.orm import Certificate
from certsvc.storage.orm_batch import BatchJob
from certsvc.storage.repositories import CertificateRepository, SealRepository
from certsvc.storage.repositories_batch import BatchRepository, resign_candidates

__all__ = [
    "HANDLER_FACTORIES",
    "BatchKind",
    "BatchService",
    "FailureRow",
    "JobCreated",
    "ResignPlan",
    "job_engine",
]

_CST = timezone(timedelta(hours=8), "CST")  # departments think in Beijing dates
_INSERT_CHUNK = 1000


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
class ResignPlan:
    department_code: str
    to_seal_id: int
    to_seal_algorithm: str
    matched: int
    revoked_or_cancelled: int  # will be skipped and counted
    already_on_seal: int  # will be skipped (a rerun after completion changes nothing)


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


class BatchService:
    def __init__(self, ctx: ServiceContext, *, engine: JobEngine | None = None) -> None:
        self.ctx = ctx
        self.engine = engine or job_engine(ctx)

    @property
    def is_queued(self) -> bool:
        """Whether jobs go to worker nodes (``submit``) instead of running where they start."""
        return isinstance(self.engine, CeleryEngine)

    # --- import ----------------------------------------------------------------------------
    def check_import(
        self,
        source: Path,
        *,
        template: str,
        department_code: str,
        principal: Principal,
        mapping: Mapping[str, str] | None = None,
        filename: str | None = None,
    ) -> ImportReport:
        """Dry run: check every row of an import file; nothing is stored.

        Raises:
            PermissionDeniedError: the caller is not an operator, or the department may not
                issue this template (``licence_type_not_allowed``).
            NotFoundError: no such department.
            UnknownTemplateError: no such template.
            BadRequestError: the file is not a readable CSV or XLSX.
            ValidationFailedError: the header row does not match the template.
        """
        report, _ = self._scan_import(
            source,
            template=template,
            department_code=department_code,
            principal=principal,
            mapping=mapping,
            filename=filename,
            spool=None,
        )
        return report

    def create_import_job(
        self,
        source: Path,
        *,
        template: str,
        department_code: str,
        principal: Principal,
        mapping: Mapping[str, str] | None = None,
        filename: str | None = None,
    ) -> tuple[JobCreated, ImportReport]:
        """Plan an import job: one item per row (invalid rows are stored as failed items).

        Raises:
            as ``check_import``.
        """
        require_role(principal, Role.OPERATOR)
        params: dict[str, Any] = {
            "template": template,
            "department_code": department_code,
            "mapping": dict(mapping or {}),
        }
        fingerprint = _fingerprint(BatchKind.IMPORT, params, file=source)
        with self.ctx.database.transaction() as session:
            existing = BatchRepository(session).unfinished_by_fingerprint(fingerprint)
            if existing is not None:
                return JobCreated(existing.id, True, existing.total), ImportReport(
                    template, department_code
                )
        with tempfile.TemporaryFile("w+", encoding="utf-8") as spool:
            report, department_id = self._scan_import(
                source,
                template=template,
                department_code=department_code,
                principal=principal,
                mapping=mapping,
                filename=filename,
                spool=spool,
            )
            spool.seek(0)
            now = self.ctx.clock.now()
            params.update(
                department_id=department_id,
                source=filename or source.name,
                created_at=now.isoformat(),
                actor_client_id=principal.client_id,
                actor_name=principal.name,
                actor_operator=principal.operator,
            )
            created = self._store_job(
                BatchKind.IMPORT,
                params,
                fingerprint,
                principal,
                now=now,
                total=report.total_rows,
                items=(json.loads(line) for line in spool),
            )
        return created, report

    def _scan_import(
        self,
        source: Path,
        *,
        template: str,
        department_code: str,
        principal: Principal,
        mapping: Mapping[str, str] | None,
        filename: str | None,
        spool: Any,
    ) -> tuple[ImportReport, int]:
        require_role(principal, Role.OPERATOR)
        spec = self.ctx.templates.get(template)
        with self.ctx.database.read() as session:
            department = department_by_code(session, department_code)
            require_licence_type(
                session, department_id=department.id, department_code=department.code, template=spec
            )
            department_id = department.id
        rows = read_table(source, filename=filename)
        header = next(rows, None)
        if header is None:
            raise ValidationFailedError(
                "the file is empty", details=[{"field": "file", "problem": "no header row"}]
            )
        columns = resolve_columns(header, spec, mapping)
        report = ImportReport(
            template=template, department_code=department_code, columns=dict(columns.header_of)
        )
        pending_keys: list[str] = []

        def flush_keys() -> None:
            # Short read transactions: never hold the database while a large file is checked.
            with self.ctx.database.transaction() as session:
                repo = CertificateRepository(session)
                for key in pending_keys:
                    if (
                        repo.by_idempotency_key(
                            department_id, import_idempotency_key(template, key)
                        )
                        is not None
                    ):
                        report.already_issued += 1
            pending_keys.clear()

        for row in check_rows(rows, spec, columns, today=self.ctx.clock.now().date()):
            report.total_rows += 1
            if row.request is None:
                report.invalid_rows += 1
                if len(report.problems) + len(row.problems) <= 10_000:
                    report.problems.extend(row.problems)
                else:
                    report.problems_truncated = True
            else:
                report.valid_rows += 1
                pending_keys.append(row.record_no)
                if len(pending_keys) >= 500:
                    flush_keys()
            if spool is not None:
                if row.request is not None:
                    item = {
                        "seq": row.row,
                        "key": row.record_no,
                        "payload": {"request": row.request},
                        "state": "pending",
                    }
                else:
                    summary = "; ".join(f"{p.field}: {p.problem}" for p in row.problems)
                    item = {
                        "seq": row.row,
                        "key": row.record_no or f"row {row.row}",
                        "payload": {},
                        "state": "failed",
                        "error_code": "invalid_row",
                        "error_message": summary[:1000],
                    }
                spool.write(json.dumps(item, ensure_ascii=False) + "\n")
        flush_keys()
        return report, department_id

    # --- re-sign -----------------------------------------------------------------------------
    def check_resign(
        self,
        *,
        to_seal_id: int,
        principal: Principal,
        department_code: str | None = None,
        from_seal_id: int | None = None,
        issued_before: date | None = None,
        template: str | None = None,
    ) -> ResignPlan:
        """Dry run: how many licences a re-sign would touch, and how many it would skip.

        Raises:
            PermissionDeniedError: the caller is not an operator.
            NotFoundError: no such seal or department.
            BadRequestError: the seal is not usable, or belongs to another department.
        """
        require_role(principal, Role.OPERATOR)
        params = self._resign_params(
            to_seal_id=to_seal_id,
            department_code=department_code,
            from_seal_id=from_seal_id,
            issued_before=issued_before,
            template=template,
            reason="",
            principal=principal,
        )
        matched = skipped_status = on_seal = 0
        with self.ctx.database.transaction() as session:
            repo = CertificateRepository(session)
            for cert_id, _identifier in resign_candidates(session, **_candidate_filters(params)):
                matched += 1
                cert = session.get(Certificate, cert_id)
                assert cert is not None
                if cert.status in SKIP_STATUSES:
                    skipped_status += 1
                    continue
                version = repo.version(cert.id, cert.current_version)
                if version is not None and version.seal_id == to_seal_id:
                    on_seal += 1
                session.expunge(cert)  # keep memory flat over a large department
        return ResignPlan(
            department_code=str(params["department_code"]),
            to_seal_id=to_seal_id,
            to_seal_algorithm=str(params["to_seal_algorithm"]),
            matched=matched,
            revoked_or_cancelled=skipped_status,
            already_on_seal=on_seal,
        )

    def create_resign_job(
        self,
        *,
        to_seal_id: int,
        principal: Principal,
        department_code: str | None = None,
        from_seal_id: int | None = None,
        issued_before: date | None = None,
        template: str | None = None,
        reason: str = "seal rollover",
        compromised_at: datetime | None = None,
    ) -> JobCreated:
        """Plan a re-sign job: one item per matching licence.

        A key rotation (the default) leaves every file the old seal made valid. With
        ``compromised_at`` the re-sign is for a compromised key: the old seal (``from_seal_id``,
        required) is recorded as compromised from then, and files it sealed at or after that
        time verify as invalid; earlier ones stay valid.

        Raises:
            as ``check_resign``; BadRequestError: ``compromised_at`` without ``from_seal_id``,
            naive, or in the future.
        """
        require_role(principal, Role.OPERATOR)
        params = self._resign_params(
            to_seal_id=to_seal_id,
            department_code=department_code,
            from_seal_id=from_seal_id,
            issued_before=issued_before,
            template=template,
            reason=reason,
            principal=principal,
        )
        if compromised_at is not None:
            params["compromised_at"] = self._check_compromise(
                from_seal_id, compromised_at
            ).isoformat()
        fingerprint = _fingerprint(
            BatchKind.RESIGN,
            {
                k: v
                for k, v in params.items()
                if k not in ("actor_client_id", "actor_name", "actor_operator")
            },
        )
        now = self.ctx.clock.now()
        with self.ctx.database.transaction() as session:
            existing = BatchRepository(session).unfinished_by_fingerprint(fingerprint)
            if existing is not None:
                return JobCreated(existing.id, True, existing.total)
        # Item rows are made in the same transaction as the job: a job is never half planned.
        with self.ctx.database.transaction() as session:
            if compromised_at is not None and from_seal_id is not None:
                # The same record as `seal revoke --reason key-compromise --at` (domain/revocation_policy.py).
                record_key_compromise(
                    session, from_seal_id, compromised_at, principal=principal, now=now
                )
            job = self._add_job(session, BatchKind.RESIGN, params, fingerprint, principal, now=now)
            repo = BatchRepository(session)
            total = 0
            chunk: list[dict[str, object]] = []
            for cert_id, identifier in resign_candidates(session, **_candidate_filters(params)):
                total += 1
                chunk.append(
                    _item_row(
                        job.id,
                        {
                            "seq": total,
                            "key": identifier,
                            "payload": {"certificate_id": cert_id},
                            "state": "pending",
                        },
                        now=now,
                    )
                )
                if len(chunk) >= _INSERT_CHUNK:
                    repo.add_items(chunk)
                    chunk = []
            repo.add_items(chunk)
            job.total = total
            created = JobCreated(job.id, False, total)
        if compromised_at is not None and from_seal_id is not None:
            RevocationService(self.ctx).forget_revoked(from_seal_id)
        return created

    def _check_compromise(self, from_seal_id: int | None, compromised_at: datetime) -> datetime:
        if from_seal_id is None:
            raise BadRequestError(
                "a key compromise names the compromised seal (from_seal)",
                code="compromise_needs_seal",
            )
        if compromised_at.tzinfo is None:
            raise BadRequestError(
                "the compromise time needs a time zone", code="invalid_compromise_time"
            )
        if compromised_at > self.ctx.clock.now():
            raise BadRequestError(
                "the compromise time is in the future", code="invalid_compromise_time"
            )
        return compromised_at

    def _resign_params(
        self,
        *,
        to_seal_id: int,
        department_code: str | None,
        from_seal_id: int | None,
        issued_before: date | None,
        template: str | None,
        reason: str,
        principal: Principal,
    ) -> dict[str, Any]:
        now = self.ctx.clock.now()
        if template is not None:
            self.ctx.templates.get(template)  # UnknownTemplateError for a typo, not "0 matched"
        with self.ctx.database.transaction() as session:
            seals = SealRepository(session)
            seal = seals.by_id(to_seal_id)
            if seal is None:
                raise NotFoundError(f"no seal {to_seal_id}")
            if seal.status != "active" or not (seal.valid_from <= now < seal.valid_until):
                raise BadRequestError(
                    f"seal {to_seal_id} is not active and valid now", code="seal_not_usable"
                )
            department = seal.department
            if (
                department_code is not None
                and department_by_code(session, department_code).id != department.id
            ):
                raise BadRequestError(
                    f"seal {to_seal_id} belongs to department {department.code}, not {department_code}",
                    code="seal_of_other_department",
                )
            if from_seal_id is not None:
                old = seals.by_id(from_seal_id)
                if old is None:
                    raise NotFoundError(f"no seal {from_seal_id}")
                if old.department_id != department.id:
                    raise BadRequestError(
                        f"seal {from_seal_id} belongs to another department",
                        code="seal_of_other_department",
                    )
            return {
                "to_seal_id": seal.id,
                "to_seal_algorithm": seal.algorithm,
                "from_seal_id": from_seal_id,
                "department_id": department.id,
                "department_code": department.code,
                "template": template,
                "issued_before": issued_before.isoformat() if issued_before else None,
                "reason": reason,
                "actor_client_id": principal.client_id,
                "actor_name": principal.name,
                "actor_operator": principal.operator,
            }

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
                _fingerprint(kind, command)
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
        fingerprint = _fingerprint(kind, command)
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
                chunk.append(_item_row(job.id, item, now=now))
                if len(chunk) >= _INSERT_CHUNK:
                    repo.add_items(chunk)
                    chunk = []
            repo.add_items(chunk)
            return JobCreated(job.id, False, total)


def _item_row(job_id: int, item: Mapping[str, Any], *, now: datetime) -> dict[str, object]:
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


def _candidate_filters(params: Mapping[str, Any]) -> dict[str, Any]:
    issued_before = params.get("issued_before")
    return {
        "department_id": int(params["department_id"]),
        "template": params.get("template"),
        "from_seal_id": params.get("from_seal_id"),
        # "before 2026-03-01" means before that day began in Beijing.
        "issued_before": datetime.combine(
            date.fromisoformat(issued_before), time(0, 0), tzinfo=_CST
        )
        if issued_before
        else None,
    }


def _fingerprint(kind: str, params: Mapping[str, Any], *, file: Path | None = None) -> str:
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
