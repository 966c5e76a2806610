"""Queries for holders' authorizations, usage records and statistics. Repositories never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import case, delete, distinct, func, select
from sqlalchemy.orm import Session, selectinload

from certsvc.domain.paging import Page, PageRequest
from certsvc.storage.orm import (
    Certificate,
    Department,
)
from certsvc.storage.orm_sharing import HolderTokenUse, SharingAuthorization, UsageRecord
from certsvc.storage.paging import read_page

__all__ = ["SharingRepository", "StatsRepository"]


class SharingRepository:
    """Authorizations, usage records and spent holder token ids."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def add_authorization(self, authorization: SharingAuthorization) -> SharingAuthorization:
        self.session.add(authorization)
        self.session.flush()
        return authorization

    def authorization_by_code(
        self, code: str, *, for_update: bool = False
    ) -> SharingAuthorization | None:
        query = select(SharingAuthorization).where(SharingAuthorization.code == code)
        if for_update:
            # PostgreSQL: two queries on one single-use code must not both pass; SQLite is serial anyway.
            query = query.with_for_update()
        return self.session.scalar(query)

    def authorization_by_id(self, authorization_id: int) -> SharingAuthorization | None:
        return self.session.get(SharingAuthorization, authorization_id)

    def authorizations_for_holder(
        self, holder_id_type: str, holder_id: str
    ) -> Sequence[SharingAuthorization]:
        return self.session.scalars(
            select(SharingAuthorization)
            .where(
                SharingAuthorization.holder_id_type == holder_id_type,
                SharingAuthorization.holder_id == holder_id,
            )
            .order_by(SharingAuthorization.id.desc())
        ).all()

    def add_usage(self, record: UsageRecord) -> UsageRecord:
        self.session.add(record)
        self.session.flush()
        return record

    def usage_by_id(self, record_id: int) -> UsageRecord | None:
        return self.session.get(UsageRecord, record_id)

    def usage_for_holder(
        self, holder_id_type: str, holder_id: str, page: PageRequest
    ) -> Page[UsageRecord]:
        """In the order things happened (the holder reads it as a diary)."""
        query = select(UsageRecord).where(
            UsageRecord.holder_id_type == holder_id_type, UsageRecord.holder_id == holder_id
        )
        return read_page(self.session, query, UsageRecord.id, page, newest_first=False)

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
            query.options(
                selectinload(Certificate.department), selectinload(Certificate.versions)
            ).order_by(Certificate.id)
        ).all()

    def certificate_by_id(self, certificate_id: int) -> Certificate | None:
        return self.session.get(Certificate, certificate_id)

    def is_token_spent(self, jti_sha256: str) -> bool:
        return (
            self.session.scalar(
                select(HolderTokenUse.id).where(HolderTokenUse.jti_sha256 == jti_sha256)
            )
            is not None
        )

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
            select(
                Department.code,
                Department.name,
                Certificate.template,
                Certificate.status,
                is_past,
                func.count(),
            )
            .join(Department, Department.id == Certificate.department_id)
            .group_by(
                Department.code, Department.name, Certificate.template, Certificate.status, is_past
            )
            .order_by(Department.code, Certificate.template)
        ).all()
        return [(r[0], r[1], r[2], r[3], bool(r[4]), int(r[5])) for r in rows]

    def usage_counts(self) -> Sequence[tuple[str | None, str, str, int]]:
        """(receiving department code, operation, result, count)."""
        rows = self.session.execute(
            select(
                UsageRecord.department_code, UsageRecord.operation, UsageRecord.result, func.count()
            )
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
