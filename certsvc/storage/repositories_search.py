"""Finding licences by what an issuing department knows about them (the certificate list)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload, selectinload

from certsvc.domain.paging import Page, PageRequest
from certsvc.domain.status import LicenceStatus
from certsvc.storage.orm import Certificate
from certsvc.storage.paging import read_page

__all__ = ["CertificateQuery", "CertificateSearchRepository"]


@dataclass(frozen=True, slots=True)
class CertificateQuery:
    """Every condition is optional; those given must all hold. ``issued_*``: from <= at < until."""

    department_id: int | None = None
    status: LicenceStatus | None = None
    template: str | None = None
    holder_id: str | None = None
    licence_number: str | None = None
    issued_from: datetime | None = None
    issued_until: datetime | None = None


class CertificateSearchRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def search(
        self, query: CertificateQuery, page: PageRequest, *, today: date
    ) -> Page[Certificate]:
        """The newest licences first; ``status`` is the effective one on ``today`` (expired is computed)."""
        stmt = select(Certificate).options(
            selectinload(Certificate.versions), joinedload(Certificate.department)
        )
        if query.department_id is not None:
            stmt = stmt.where(Certificate.department_id == query.department_id)
        if query.template is not None:
            stmt = stmt.where(Certificate.template == query.template)
        if query.holder_id is not None:
            stmt = stmt.where(Certificate.holder_id == query.holder_id)
        if query.licence_number is not None:
            stmt = stmt.where(Certificate.licence_number == query.licence_number)
        if query.issued_from is not None:
            stmt = stmt.where(Certificate.issued_at >= query.issued_from)
        if query.issued_until is not None:
            stmt = stmt.where(Certificate.issued_at < query.issued_until)
        if query.status is LicenceStatus.EXPIRED:
            # Expiry is never stored: a stored "valid" past its last day reads as expired.
            stmt = stmt.where(
                Certificate.status == LicenceStatus.VALID.value, Certificate.valid_until < today
            )
        elif query.status is LicenceStatus.VALID:
            stmt = stmt.where(
                Certificate.status == LicenceStatus.VALID.value, Certificate.valid_until >= today
            )
        elif query.status is not None:
            stmt = stmt.where(Certificate.status == query.status.value)
        return read_page(self.session, stmt, Certificate.id, page)
