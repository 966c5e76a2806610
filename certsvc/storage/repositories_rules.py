"""Queries behind the registry's data rules: licence types, licence numbers, seal choice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from certsvc.storage.orm import Certificate, Seal
from certsvc.storage.orm_rules import DepartmentLicenceType

__all__ = ["LicenceNumberRepository", "LicenceTypeRepository", "SealChoiceRepository"]


class LicenceTypeRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def is_allowed(self, department_id: int, template: str) -> bool:
        return self.session.get(DepartmentLicenceType, (department_id, template)) is not None

    def for_department(self, department_id: int) -> list[str]:
        return list(
            self.session.scalars(
                select(DepartmentLicenceType.template)
                .where(DepartmentLicenceType.department_id == department_id)
                .order_by(DepartmentLicenceType.template)
            ).all()
        )

    def grant(self, department_id: int, template: str, *, at: datetime) -> bool:
        """Allow a type; False when it was allowed already."""
        if self.is_allowed(department_id, template):
            return False
        self.session.add(
            DepartmentLicenceType(department_id=department_id, template=template, granted_at=at)
        )
        self.session.flush()
        return True

    def withdraw(self, department_id: int, template: str) -> bool:
        """Stop allowing a type; False when it was not allowed."""
        result = self.session.execute(
            delete(DepartmentLicenceType).where(
                DepartmentLicenceType.department_id == department_id,
                DepartmentLicenceType.template == template,
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class LicenceNumberRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def holder(self, department_id: int, type_code: str, number: str) -> Certificate | None:
        """The licence of this department and type that holds ``number``, if any."""
        return self.session.scalar(
            select(Certificate).where(
                Certificate.department_id == department_id,
                Certificate.type_code == type_code,
                Certificate.licence_number == number,
            )
        )


class SealChoiceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def default_of(self, department_id: int) -> Seal | None:
        """The seal marked default (it may be retired or out of its validity)."""
        return self.session.scalar(
            select(Seal).where(Seal.department_id == department_id, Seal.is_default)
        )

    def usable_with_purpose(self, department_id: int, purpose: str, at: datetime) -> Sequence[Seal]:
        """Active seals of this purpose valid at ``at``, oldest first."""
        return self.session.scalars(
            select(Seal)
            .where(
                Seal.department_id == department_id,
                Seal.purpose == purpose,
                Seal.status == "active",
                Seal.valid_from <= at,
                Seal.valid_until > at,
            )
            .order_by(Seal.id)
        ).all()

    def make_default(self, seal: Seal) -> None:
        """Mark ``seal`` as its department's one default (the partial unique index keeps it one)."""
        self.session.execute(
            update(Seal)
            .where(Seal.department_id == seal.department_id, Seal.is_default)
            .values(is_default=False)
        )
        self.session.flush()
        seal.is_default = True
        self.session.flush()
