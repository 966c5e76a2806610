"""Queries over the registry. Repositories read and add; they never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, selectinload

from certsvc.storage.orm import (
    ApiClient,
    AuditEvent,
    Certificate,
    CertificateVersion,
    Department,
    Seal,
    SerialCounter,
)

__all__ = [
    "ApiClientRepository",
    "AuditRepository",
    "CertificateRepository",
    "DepartmentRepository",
    "SealRepository",
    "SerialRepository",
]


# An arbitrary constant ("cert") naming the audit chain's advisory lock on PostgreSQL.
_AUDIT_LOCK_KEY = 0x63657274


class DepartmentRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_code(self, code: str) -> Department | None:
        return self.session.scalar(select(Department).where(Department.code == code))

    def by_id(self, department_id: int) -> Department | None:
        return self.session.get(Department, department_id)

    def all(self) -> Sequence[Department]:
        return self.session.scalars(select(Department).order_by(Department.id)).all()

    def add(self, department: Department) -> Department:
        self.session.add(department)
        self.session.flush()
        return department


class SealRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_id(self, seal_id: int) -> Seal | None:
        return self.session.get(Seal, seal_id)

    def active_for(self, department_id: int, at: datetime) -> Seal | None:
        """The newest active seal of a department that is valid at ``at``."""
        return self.session.scalar(
            select(Seal)
            .where(
                Seal.department_id == department_id,
                Seal.status == "active",
                Seal.valid_from <= at,
                Seal.valid_until > at,
            )
            .order_by(Seal.id.desc())
            .limit(1)
        )

    def for_department(self, department_id: int) -> Sequence[Seal]:
        return self.session.scalars(select(Seal).where(Seal.department_id == department_id).order_by(Seal.id)).all()

    def add(self, seal: Seal) -> Seal:
        self.session.add(seal)
        self.session.flush()
        return seal


class ApiClientRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_key_id(self, key_id: str) -> ApiClient | None:
        return self.session.scalar(select(ApiClient).where(ApiClient.key_id == key_id))

    def add(self, client: ApiClient) -> ApiClient:
        self.session.add(client)
        self.session.flush()
        return client


class CertificateRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_identifier(self, identifier: str) -> Certificate | None:
        """Find a licence by the identifier of any of its versions."""
        cert = self.session.scalar(select(Certificate).where(Certificate.identifier == identifier))
        if cert is not None:
            return cert
        version = self.session.scalar(
            select(CertificateVersion).where(CertificateVersion.identifier == identifier)
        )
        return version.certificate if version is not None else None

    def by_idempotency_key(self, department_id: int, key: str) -> Certificate | None:
        return self.session.scalar(
            select(Certificate).where(
                Certificate.department_id == department_id, Certificate.idempotency_key == key
            )
        )

    def versions_by_sha256(self, digests: Sequence[str]) -> Sequence[CertificateVersion]:
        if not digests:
            return []
        return self.session.scalars(
            select(CertificateVersion)
            .where(CertificateVersion.sha256.in_(list(digests)))
            .options(selectinload(CertificateVersion.certificate))
        ).all()

    def version(self, certificate_id: int, version: int) -> CertificateVersion | None:
        return self.session.scalar(
            select(CertificateVersion).where(
                CertificateVersion.certificate_id == certificate_id, CertificateVersion.version == version
            )
        )

    def add(self, certificate: Certificate) -> Certificate:
        self.session.add(certificate)
        self.session.flush()
        return certificate

    def add_version(self, version: CertificateVersion) -> CertificateVersion:
        self.session.add(version)
        self.session.flush()
        return version


class SerialRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def next_value(self, *, department_id: int, type_code: str, year: int) -> int:
        """Allocate the next serial number; the caller's transaction holds the write lock."""
        bumped = self.session.execute(
            update(SerialCounter)
            .where(
                SerialCounter.department_id == department_id,
                SerialCounter.type_code == type_code,
                SerialCounter.year == year,
            )
            .values(next_value=SerialCounter.next_value + 1)
            .returning(SerialCounter.next_value)
        ).scalar_one_or_none()
        if bumped is not None:
            return int(bumped) - 1
        self.session.add(SerialCounter(department_id=department_id, type_code=type_code, year=year, next_value=2))
        self.session.flush()
        return 1


class AuditRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_chain(self) -> None:
        """Serialise appends so concurrent writers never fork the chain.

        SQLite transactions here start with BEGIN IMMEDIATE and are already serial; on
        PostgreSQL a transaction-scoped advisory lock does the same.
        """
        if self.session.get_bind().dialect.name == "postgresql":
            self.session.execute(select(func.pg_advisory_xact_lock(_AUDIT_LOCK_KEY)))

    def head(self) -> AuditEvent | None:
        return self.session.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))

    def add(self, event: AuditEvent) -> AuditEvent:
        self.session.add(event)
        self.session.flush()
        return event

    def for_target(self, target: str) -> Sequence[AuditEvent]:
        return self.session.scalars(select(AuditEvent).where(AuditEvent.target == target).order_by(AuditEvent.id)).all()



# --- batch jobs (issue 7) ------------------------------------------------------------------------
from collections.abc import Iterator  # noqa: E402
from typing import Any  # noqa: E402

from certsvc.storage.orm_batch import BatchItem, BatchJob  # noqa: E402

__all__ += ["BatchRepository"]


class BatchRepository:
    """Jobs and their items. Claiming and finishing are single statements guarded by state."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_job(self, job: BatchJob) -> BatchJob:
        self.session.add(job)
        self.session.flush()
        return job

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
            self.session.execute(BatchItem.__table__.insert(), list(rows))

    def counts(self, job_id: int) -> dict[str, int]:
        rows = self.session.execute(
            select(BatchItem.state, func.count()).where(BatchItem.job_id == job_id).group_by(BatchItem.state)
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

    def claim(self, job_id: int, *, token: str, limit: int, now: datetime) -> Sequence[BatchItem]:
        """Move up to ``limit`` pending items to running under ``token``; returns them.

        The caller's transaction holds the write lock on SQLite (BEGIN IMMEDIATE); on
        PostgreSQL ``SKIP LOCKED`` lets concurrent workers take different items.
        """
        ids = self.session.scalars(
            select(BatchItem.id)
            .where(BatchItem.job_id == job_id, BatchItem.state == "pending")
            .order_by(BatchItem.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not ids:
            return []
        self.session.execute(
            update(BatchItem)
            .where(BatchItem.id.in_(ids), BatchItem.state == "pending")
            .values(state="running", claim_token=token, claimed_at=now, attempts=BatchItem.attempts + 1)
        )
        return self.session.scalars(
            select(BatchItem).where(BatchItem.id.in_(ids), BatchItem.claim_token == token).order_by(BatchItem.id)
        ).all()

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
        done = self.session.execute(
            update(BatchItem)
            .where(BatchItem.id == item_id, BatchItem.claim_token == token, BatchItem.state == "running")
            .values(
                state=state,
                finished_at=now,
                result=result,
                error_code=error_code,
                error_message=error_message,
            )
        )
        return bool(done.rowcount)  # type: ignore[attr-defined]

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
            .where(BatchItem.job_id == job_id, BatchItem.state == "pending", BatchItem.attempts >= max_attempts)
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


# --- holders and sharing (issue 8) -----------------------------------------------------------
from datetime import date  # noqa: E402

from sqlalchemy import case, delete, distinct  # noqa: E402

from certsvc.storage.orm_sharing import HolderTokenUse, SharingAuthorization, UsageRecord  # noqa: E402


class SharingRepository:
    """Authorizations, usage records and spent holder token ids."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_authorization(self, authorization: SharingAuthorization) -> SharingAuthorization:
        self.session.add(authorization)
        self.session.flush()
        return authorization

    def authorization_by_code(self, code: str, *, for_update: bool = False) -> SharingAuthorization | None:
        query = select(SharingAuthorization).where(SharingAuthorization.code == code)
        if for_update:
            # PostgreSQL: two queries on one single-use code must not both pass; SQLite is serial anyway.
            query = query.with_for_update()
        return self.session.scalar(query)

    def authorization_by_id(self, authorization_id: int) -> SharingAuthorization | None:
        return self.session.get(SharingAuthorization, authorization_id)

    def authorizations_for_holder(self, holder_id_type: str, holder_id: str) -> Sequence[SharingAuthorization]:
        return self.session.scalars(
            select(SharingAuthorization)
            .where(SharingAuthorization.holder_id_type == holder_id_type, SharingAuthorization.holder_id == holder_id)
            .order_by(SharingAuthorization.id.desc())
        ).all()

    def add_usage(self, record: UsageRecord) -> UsageRecord:
        self.session.add(record)
        self.session.flush()
        return record

    def usage_by_id(self, record_id: int) -> UsageRecord | None:
        return self.session.get(UsageRecord, record_id)

    def usage_for_holder(self, holder_id_type: str, holder_id: str) -> Sequence[UsageRecord]:
        return self.session.scalars(
            select(UsageRecord)
            .where(UsageRecord.holder_id_type == holder_id_type, UsageRecord.holder_id == holder_id)
            .order_by(UsageRecord.id)
        ).all()

    def usage_for_department(
        self, department_id: int, *, since: datetime | None = None, until: datetime | None = None
    ) -> Sequence[UsageRecord]:
        query = select(UsageRecord).where(UsageRecord.department_id == department_id)
        if since is not None:
            query = query.where(UsageRecord.at >= since)
        if until is not None:
            query = query.where(UsageRecord.at < until)
        return self.session.scalars(query.order_by(UsageRecord.id)).all()

    def certificates_for_holder(
        self, holder_id_type: str, holder_id: str, *, type_code: str | None = None
    ) -> Sequence[Certificate]:
        query = select(Certificate).where(
            Certificate.holder_id_type == holder_id_type, Certificate.holder_id == holder_id
        )
        if type_code is not None:
            query = query.where(Certificate.type_code == type_code)
        return self.session.scalars(
            query.options(selectinload(Certificate.department), selectinload(Certificate.versions)).order_by(
                Certificate.id
            )
        ).all()

    def certificate_by_id(self, certificate_id: int) -> Certificate | None:
        return self.session.get(Certificate, certificate_id)

    def is_token_spent(self, jti_sha256: str) -> bool:
        return self.session.scalar(select(HolderTokenUse.id).where(HolderTokenUse.jti_sha256 == jti_sha256)) is not None

    def spend_token(self, use: HolderTokenUse) -> None:
        self.session.add(use)
        self.session.flush()

    def forget_tokens_expired_before(self, at: datetime) -> None:
        # A token past its exp is refused anyway, so its id need not be remembered any longer.
        self.session.execute(delete(HolderTokenUse).where(HolderTokenUse.expires_at < at))


class StatsRepository:
    """Aggregates for the programme figures; grouped in SQL so they stay cheap on big registries."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def licence_counts(self, *, today: date) -> Sequence[tuple[str, str, str, str, bool, int]]:
        """(department code, department name, template, stored status, is past validity, count)."""
        is_past = case((Certificate.valid_until < today, True), else_=False)
        rows = self.session.execute(
            select(Department.code, Department.name, Certificate.template, Certificate.status, is_past, func.count())
            .join(Department, Department.id == Certificate.department_id)
            .group_by(Department.code, Department.name, Certificate.template, Certificate.status, is_past)
            .order_by(Department.code, Certificate.template)
        ).all()
        return [(r[0], r[1], r[2], r[3], bool(r[4]), int(r[5])) for r in rows]

    def usage_counts(self) -> Sequence[tuple[str | None, str, str, int]]:
        """(receiving department code, operation, result, count)."""
        rows = self.session.execute(
            select(UsageRecord.department_code, UsageRecord.operation, UsageRecord.result, func.count())
            .group_by(UsageRecord.department_code, UsageRecord.operation, UsageRecord.result)
            .order_by(UsageRecord.department_code)
        ).all()
        return [(r[0], r[1], r[2], int(r[3])) for r in rows]

    def valid_licences(self, *, today: date, used_only: bool) -> int:
        query = select(func.count(distinct(Certificate.id))).where(
            Certificate.status == "valid", Certificate.valid_until >= today
        )
        if used_only:
            used = select(UsageRecord.certificate_id).where(
                UsageRecord.operation.in_(("query", "check")),
                UsageRecord.result.in_(("ok", "match")),
                UsageRecord.certificate_id.is_not(None),
            )
            query = query.where(Certificate.id.in_(used))
        return int(self.session.scalar(query) or 0)

    def applications_served(self) -> int:
        """Distinct (receiving department, application number) with at least one successful use."""
        served = (
            select(UsageRecord.department_id, UsageRecord.application_no)
            .where(
                UsageRecord.operation.in_(("query", "check")),
                UsageRecord.result.in_(("ok", "match")),
                UsageRecord.application_no.is_not(None),
            )
            .distinct()
            .subquery()
        )
        return int(self.session.scalar(select(func.count()).select_from(served)) or 0)


__all__ += ["SharingRepository", "StatsRepository"]


def _resign_candidates_query(
    *,
    department_id: int,
    template: str | None,
    from_seal_id: int | None,
    issued_before: datetime | None,
) -> Any:
    query = select(Certificate.id, Certificate.identifier).where(Certificate.department_id == department_id)
    if template is not None:
        query = query.where(Certificate.template == template)
    if issued_before is not None:
        query = query.where(Certificate.issued_at < issued_before)
    if from_seal_id is not None:
        query = query.join(
            CertificateVersion,
            (CertificateVersion.certificate_id == Certificate.id)
            & (CertificateVersion.version == Certificate.current_version),
        ).where(CertificateVersion.seal_id == from_seal_id)
    return query.order_by(Certificate.id)


def resign_candidates(
    session: Session,
    *,
    department_id: int,
    template: str | None = None,
    from_seal_id: int | None = None,
    issued_before: datetime | None = None,
) -> Iterator[tuple[int, str]]:
    """(certificate id, identifier) of every licence a re-sign job matches, streamed."""
    query = _resign_candidates_query(
        department_id=department_id, template=template, from_seal_id=from_seal_id, issued_before=issued_before
    )
    for cert_id, identifier in session.execute(query.execution_options(yield_per=1000)):
        yield int(cert_id), str(identifier)


__all__ += ["resign_candidates"]
