"""Helpers for the batch tests: departments of their own (the session database is shared)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from certsvc.crypto import api as crypto
from certsvc.domain.identifiers import uscc_check_char
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role
from certsvc.services.provisioning import add_department, add_seal, department_by_code
from certsvc.storage.repositories_rules import LicenceTypeRepository

__all__ = ["OPERATOR", "TestDepartment", "new_department", "new_seal"]

OPERATOR = Principal(client_id=0, name="test-operator", role=Role.OPERATOR, department_id=None, department_code=None)


@dataclass(frozen=True)
class TestDepartment:
    code: str
    id: int
    seal_id: int

    __test__ = False  # not a pytest test class


def new_department(ctx: ServiceContext, *, algorithm: crypto.KeyAlgorithm = crypto.KeyAlgorithm.ECDSA_P256) -> TestDepartment:
    first17 = "11" + "320200" + "".join(secrets.choice("0123456789") for _ in range(9))
    code = first17 + uscc_check_char(first17)
    with ctx.database.transaction() as session:
        department = add_department(
            session, code=code, name=f"无锡市批量测试局{code[-4:]}", area_code="320200", actor=None, now=ctx.clock.now()
        )
        seal = add_seal(ctx, session, department=department, name="行政许可专用章", algorithm=algorithm, actor=None)
        for template in ctx.templates.all():
            LicenceTypeRepository(session).grant(department.id, template.slug, at=ctx.clock.now())
        return TestDepartment(code=code, id=department.id, seal_id=seal.id)


def new_seal(ctx: ServiceContext, code: str, *, algorithm: crypto.KeyAlgorithm, name: str = "行政许可专用章（新）") -> int:
    with ctx.database.transaction() as session:
        department = department_by_code(session, code)
        return add_seal(ctx, session, department=department, name=name, algorithm=algorithm, actor=None).id
