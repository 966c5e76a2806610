"""Which licence types each department may issue (``certsvc department types``).

A department issues only the templates configured for it; issuance refuses any other with
``licence_type_not_allowed``. Withdrawing a type stops new licences of it; the department can
still amend, reissue, suspend … the licences of that type it has issued.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.provisioning import department_by_code
from certsvc.storage.repositories_rules import LicenceTypeRepository

__all__ = ["DepartmentLicenceTypes", "LicenceTypeService"]


@dataclass(frozen=True, slots=True)
class DepartmentLicenceTypes:
    department_code: str
    templates: tuple[str, ...]  # template slugs, sorted


class LicenceTypeService:
    """Every method needs the operator role; each change is audited."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def types(self, department_code: str, *, principal: Principal) -> DepartmentLicenceTypes:
        """Raises: PermissionDeniedError: not an operator. NotFoundError: unknown department."""
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            department = department_by_code(session, department_code)
            return DepartmentLicenceTypes(
                department.code, tuple(LicenceTypeRepository(session).for_department(department.id))
            )

    def change(
        self,
        department_code: str,
        *,
        add: Sequence[str] = (),
        remove: Sequence[str] = (),
        principal: Principal,
    ) -> DepartmentLicenceTypes:
        """Allow the templates in ``add`` and withdraw those in ``remove`` (both idempotent).

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown department.
            UnknownTemplateError: ``add`` names a template that is not installed.
        """
        require_role(principal, Role.OPERATOR)
        for slug in add:
            self.ctx.templates.get(slug)  # only installed templates can be allowed
        now = self.ctx.clock.now()
        with self.ctx.database.transaction() as session:
            department = department_by_code(session, department_code)
            repo = LicenceTypeRepository(session)
            added = [slug for slug in dict.fromkeys(add) if repo.grant(department.id, slug, at=now)]
            removed = [slug for slug in dict.fromkeys(remove) if repo.withdraw(department.id, slug)]
            if added or removed:
                append_audit_event(
                    session,
                    at=now,
                    actor=principal,
                    action="department.types",
                    target=f"department:{department.code}",
                    details={"added": added, "removed": removed},
                )
            return DepartmentLicenceTypes(
                department.code, tuple(repo.for_department(department.id))
            )
