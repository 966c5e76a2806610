"""Queries over the registry. Repositories read and add; they never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, selectinload

from certsvc.domain.paging import Page, PageRequest
from certsvc.storage.orm import (
    ApiClient,
    AuditEvent,
    Certificate,
    CertificateVersion,
    Department,
    Seal,
    SerialCounter,
)
from certsvc.storage.paging import read_page

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
        """The newest active seal of a department that is valid at ``at``.

        Whether a department has a usable seal at all; which seal signs is chosen elsewhere
        (``services.issuance_rules.choose_seal``), never by age.
        """
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
        return self.session.scalars(
            select(Seal).where(Seal.department_id == department_id).order_by(Seal.id)
        ).all()

    def page_for_department(self, department_id: int, page: PageRequest) -> Page[Seal]:
        query = select(Seal).where(Seal.department_id == department_id)
        return read_page(self.session, query, Seal.id, page, newest_first=False)

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

    def set_sealing_record(self, sha256: str, record: dict[str, Any]) -> None:
        self.session.execute(
            update(CertificateVersion).where(CertificateVersion.sha256 == sha256).values(sealing_record=record)
        )

    def versions_by_print_sha256(self, digest: str) -> Sequence[CertificateVersion]:
        return self.session.scalars(
            select(CertificateVersion)
            .where(CertificateVersion.print_sha256 == digest)
            .order_by(CertificateVersion.id)
            .options(selectinload(CertificateVersion.certificate))
        ).all()

    def version(self, certificate_id: int, version: int) -> CertificateVersion | None:
        return self.session.scalar(
            select(CertificateVersion).where(
                CertificateVersion.certificate_id == certificate_id,
                CertificateVersion.version == version,
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
        """Allocate the next serial number in the caller's transaction.

        One upsert: the first number of a year inserts the counter, every later one bumps it.
        On PostgreSQL two first allocations that race meet at the unique constraint and the
        second turns into the bump (no IntegrityError, no gap); concurrent bumps queue on the
        counter's row lock until the holder commits, so no two transactions get one number.
        On SQLite the transaction holds the one write lock anyway.
        """
        dialect = self.session.get_bind().dialect.name
        upsert = (pg_insert if dialect == "postgresql" else sqlite_insert)(SerialCounter).values(
            department_id=department_id, type_code=type_code, year=year, next_value=2
        )
        allocated = self.session.execute(
            upsert.on_conflict_do_update(
                index_elements=[
                    SerialCounter.department_id,
                    SerialCounter.type_code,
                    SerialCounter.year,
                ],
                set_={"next_value": SerialCounter.next_value + 1},
            ).returning(SerialCounter.next_value)
        ).scalar_one()
        return int(allocated) - 1


_HEAD_HASH = select(AuditEvent.entry_hash).order_by(AuditEvent.id.desc()).limit(1)
_INSERT_EVENT = insert(AuditEvent).returning(AuditEvent.id)


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

    def head_hash(self) -> str | None:
        """The newest entry's hash: one column of one row."""
        value = self.session.connection().execute(_HEAD_HASH).scalar()
        return None if value is None else str(value)

    def append(self, row: dict[str, Any]) -> int:
        """Insert one entry given as column values; returns its id.

        A Core INSERT on the session's connection, not an ORM object and a flush: appends run
        inside write transactions (on SQLite, under the one write lock), so they are kept lean.
        """
        return int(self.session.connection().execute(_INSERT_EVENT, row).scalar_one())

    def for_target(self, target: str) -> Sequence[AuditEvent]:
        return self.session.scalars(
            select(AuditEvent).where(AuditEvent.target == target).order_by(AuditEvent.id)
        ).all()
