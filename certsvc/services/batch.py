"""Batch work for operators: import licence records (存量出证) and re-sign licences (批量签章).

Every batch is a durable job with one row per item (``storage.orm_batch``). This service plans
jobs (a dry run reports the plan without storing anything) and creates them; running, resuming,
progress and failures come from ``services.batch_jobs.BatchJobs``, which it extends. The
per-item work lives in ``batch_import.ImportHandler`` and ``batch_resign.ResignHandler``; worker
processes build those from a picklable ``TaskSpec``.

Running the same command again finds the unfinished job with the same fingerprint and resumes
it instead of planning a second one.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any

from certsvc.errors import (
    BadRequestError,
    NotFoundError,
    ValidationFailedError,
)
from certsvc.services.batch_import import (
    ImportReport,
    check_rows,
    import_idempotency_key,
    read_table,
    resolve_columns,
)
from certsvc.services.batch_jobs import (
    ITEM_INSERT_CHUNK,
    BatchJobs,
    BatchKind,
    JobCreated,
    item_row,
    job_fingerprint,
)
from certsvc.services.batch_resign import SKIP_STATUSES
from certsvc.services.issuance_rules import require_licence_type
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.provisioning import department_by_code
from certsvc.services.revocation import RevocationService, record_key_compromise
from certsvc.storage.orm import Certificate
from certsvc.storage.repositories import CertificateRepository, SealRepository
from certsvc.storage.repositories_batch import resign_candidates
from certsvc.storage.repositories_jobs import BatchRepository

__all__ = ["BatchService", "ResignPlan"]

_CST = timezone(timedelta(hours=8), "CST")  # departments think in Beijing dates


@dataclass(frozen=True, slots=True)
class ResignPlan:
    department_code: str
    to_seal_id: int
    to_seal_algorithm: str
    matched: int
    revoked_or_cancelled: int  # will be skipped and counted
    already_on_seal: int  # will be skipped (a rerun after completion changes nothing)


class BatchService(BatchJobs):
    """Plans import and re-signing jobs; storing, running and reporting come from :class:`BatchJobs`."""

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
        fingerprint = job_fingerprint(BatchKind.IMPORT, params, file=source)
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
        fingerprint = job_fingerprint(
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
                    item_row(
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
                if len(chunk) >= ITEM_INSERT_CHUNK:
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
