"""Departments, by operators: register one, set its Mongolian name, list and show them."""

from __future__ import annotations

from dataclasses import dataclass

from certsvc.errors import ValidationFailedError
from certsvc.services.audit import append_audit_event
from certsvc.services.bilingual import missing_mongolian_warnings, mongolian_name
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.provisioning import add_department, department_by_code
from certsvc.services.seal_admin import SealInfo, seal_info
from certsvc.storage.orm import Department, Seal
from certsvc.storage.repositories import DepartmentRepository, SealRepository
from certsvc.storage.repositories_rules import LicenceTypeRepository

__all__ = ["DepartmentInfo", "DepartmentService"]


@dataclass(frozen=True, slots=True)
class DepartmentInfo:
    id: int
    code: str
    name: str
    area_code: str
    status: str
    seals: tuple[SealInfo, ...]
    licence_types: tuple[str, ...]  # template slugs the department may issue
    name_mn: str | None = None
    is_bilingual: bool = False
    warnings: tuple[str, ...] = ()  # told to the operator, not refused (a missing Mongolian name)


def _department_info(department: Department, seals: list[Seal], licence_types: list[str]) -> DepartmentInfo:
    return DepartmentInfo(
        department.id,
        department.code,
        department.name,
        department.area_code,
        department.status,
        tuple(seal_info(s) for s in seals),
        tuple(licence_types),
        department.name_mn,
        department.is_bilingual,
        tuple(
            missing_mongolian_warnings(
                is_bilingual=department.is_bilingual, name_mn=department.name_mn, area_code=department.area_code
            )
        ),
    )


class DepartmentService:
    """Every method needs the operator role; each change is audited."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def add_department(
        self,
        *,
        code: str,
        name: str,
        area_code: str,
        principal: Principal,
        name_mn: str | None = None,
        is_bilingual: bool | None = None,
    ) -> DepartmentInfo:
        """Register a department. A bilingual one (by default: area code 15xxxx, 内蒙古) without
        its Mongolian name is registered with a warning in the result.

        Raises:
            PermissionDeniedError: not an operator.
            ValidationFailedError: bad 统一社会信用代码, name, Mongolian name or GB/T 2260 area code.
            ConflictError: the department exists.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.transaction() as session:
            department = add_department(
                session,
                code=code,
                name=name,
                area_code=area_code,
                actor=principal,
                now=self.ctx.clock.now(),
                name_mn=name_mn,
                is_bilingual=is_bilingual,
            )
            return _department_info(department, [], [])

    def update_department(
        self,
        code: str,
        *,
        principal: Principal,
        name_mn: str | None = None,
        is_bilingual: bool | None = None,
    ) -> DepartmentInfo:
        """Set a department's Mongolian name and/or whether it is bilingual (``None``: unchanged).

        Seals made before keep their image; make a new seal to carry the new name.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown department.
            ValidationFailedError: a bad Mongolian name (every problem listed).
        """
        require_role(principal, Role.OPERATOR)
        mongolian, problems = mongolian_name("name_mn", name_mn)
        if problems:
            raise ValidationFailedError("invalid Mongolian name", details=problems)
        with self.ctx.database.transaction() as session:
            department = department_by_code(session, code)
            changes: dict[str, object] = {}
            if mongolian is not None and mongolian != department.name_mn:
                department.name_mn = changes["name_mn"] = mongolian
            if is_bilingual is not None and is_bilingual != department.is_bilingual:
                department.is_bilingual = changes["is_bilingual"] = is_bilingual
            if changes:
                append_audit_event(
                    session,
                    at=self.ctx.clock.now(),
                    actor=principal,
                    action="department.update",
                    target=f"department:{department.code}",
                    details=changes,
                )
            return _department_info(
                department,
                list(SealRepository(session).for_department(department.id)),
                LicenceTypeRepository(session).for_department(department.id),
            )

    def list_departments(self, *, principal: Principal) -> list[DepartmentInfo]:
        """Raises: PermissionDeniedError: not an operator."""
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            types = LicenceTypeRepository(session)
            return [
                _department_info(d, list(d.seals), types.for_department(d.id)) for d in DepartmentRepository(session).all()
            ]

    def show_department(self, code: str, *, principal: Principal) -> DepartmentInfo:
        """Raises: PermissionDeniedError: not an operator. NotFoundError: unknown code."""
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            department = department_by_code(session, code)
            return _department_info(
                department,
                list(SealRepository(session).for_department(department.id)),
                LicenceTypeRepository(session).for_department(department.id),
            )
