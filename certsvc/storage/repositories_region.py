"""Queries behind the region's registers: licence-type grants, matters, department places, seals."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from certsvc.domain.paging import Page, PageRequest
from certsvc.storage.orm import Department, Seal
from certsvc.storage.orm_region import DepartmentPlace, Matter
from certsvc.storage.orm_rules import DepartmentLicenceType
from certsvc.storage.orm_sharing import SharingAuthorization, UsageRecord

__all__ = ["MatterRepository", "PlaceRepository", "RegionReadRepository"]


class MatterRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_code(self, code: str, *, for_update: bool = False) -> Matter | None:
        query = select(Matter).where(Matter.code == code).options(selectinload(Matter.materials))
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def page(self, request: PageRequest) -> Page[Matter]:
        """Matters in registration (id) order, the shared keyset cursor (``domain/paging.py``)."""
        query = (
            select(Matter)
            .options(selectinload(Matter.materials))
            .order_by(Matter.id)
            .limit(request.limit + 1)
        )
        if request.after_id is not None:
            query = query.where(Matter.id > request.after_id)
        return Page.from_rows(self.session.scalars(query).all(), request, row_id=lambda m: m.id)

    def all(self) -> Sequence[Matter]:
        return self.session.scalars(
            select(Matter).options(selectinload(Matter.materials)).order_by(Matter.code)
        ).all()

    def add(self, matter: Matter) -> Matter:
        self.session.add(matter)
        self.session.flush()
        return matter

    def delete(self, matter: Matter) -> None:
        self.session.delete(matter)
        self.session.flush()


class PlaceRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def of(self, department_id: int) -> DepartmentPlace | None:
        return self.session.get(DepartmentPlace, department_id)

    def put(self, department_id: int, *, level: str, parent_code: str | None) -> bool:
        """Place a department; False when it was placed so already."""
        place = self.of(department_id)
        if place is None:
            self.session.add(
                DepartmentPlace(department_id=department_id, level=level, parent_code=parent_code)
            )
            self.session.flush()
            return True
        if (place.level, place.parent_code) == (level, parent_code):
            return False
        place.level, place.parent_code = level, parent_code
        self.session.flush()
        return True


class RegionReadRepository:
    """Read-only queries for the catalogue, the coverage report and the matter figures."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def grants(self) -> Sequence[tuple[str, str, str]]:
        """(template slug, department code, department name) of every active department's grant."""
        rows = self.session.execute(
            select(DepartmentLicenceType.template, Department.code, Department.name)
            .join(Department, Department.id == DepartmentLicenceType.department_id)
            .where(Department.status == "active")
            .order_by(DepartmentLicenceType.template, Department.code)
        ).all()
        return [(r[0], r[1], r[2]) for r in rows]

    def departments_with_places(self) -> Sequence[tuple[Department, DepartmentPlace | None]]:
        rows = self.session.execute(
            select(Department, DepartmentPlace)
            .outerjoin(DepartmentPlace, DepartmentPlace.department_id == Department.id)
            .order_by(Department.code)
        ).all()
        return [(r[0], r[1]) for r in rows]

    def seals(self) -> Sequence[Seal]:
        return self.session.scalars(select(Seal).order_by(Seal.department_id, Seal.id)).all()

    def live_authorizations(
        self,
        *,
        holder: tuple[str, str],
        department_id: int,
        type_codes: Sequence[str],
        now: datetime,
    ) -> Sequence[SharingAuthorization]:
        """The holder's authorizations to this department, for these types, usable at ``now``."""
        if not type_codes:
            return []
        return self.session.scalars(
            select(SharingAuthorization)
            .where(
                SharingAuthorization.holder_id_type == holder[0],
                SharingAuthorization.holder_id == holder[1],
                SharingAuthorization.department_id == department_id,
                SharingAuthorization.type_code.in_(list(type_codes)),
                SharingAuthorization.withdrawn_at.is_(None),
                SharingAuthorization.expires_at > now,
            )
            .order_by(SharingAuthorization.id)
        ).all()

    def waived(self) -> Sequence[tuple[str, str, int]]:
        """(matter code, 证照类型代码, distinct applications) of successful queries naming a matter."""
        rows = self.session.execute(
            select(
                UsageRecord.matter_code,
                UsageRecord.type_code,
                func.count(func.distinct(UsageRecord.application_no)),
            )
            .where(
                UsageRecord.matter_code.is_not(None),
                UsageRecord.operation == "query",
                UsageRecord.result == "ok",
            )
            .group_by(UsageRecord.matter_code, UsageRecord.type_code)
        ).all()
        return [(str(r[0]), str(r[1]), int(r[2])) for r in rows]
