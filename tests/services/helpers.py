"""Service-level helpers: issuers of departments of their own, and requests from the samples."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from certsvc.crypto import api as crypto
from certsvc.services.context import ServiceContext
from certsvc.services.issuance import IssuanceService, IssuedCertificate
from certsvc.services.principals import Principal, Role
from certsvc.services.requests import IssueRequest, parse_issue_request
from certsvc.storage.orm import AuditEvent
from tests.conftest import TEMPLATES
from tests.jobs.batch_helpers import TestDepartment, new_department

__all__ = ["FOOD", "audit_events", "issuer_of", "new_issuer", "sample_issue_request"]

FOOD = "food-business-licence"


def sample_issue_request(slug: str = FOOD, **changes: Any) -> IssueRequest:
    data: dict[str, Any] = json.loads((TEMPLATES / slug / "sample.json").read_text(encoding="utf-8"))
    data.update(changes)
    return parse_issue_request(data)


def issuer_of(department: TestDepartment) -> Principal:
    return Principal(
        client_id=0, name="test-issuer", role=Role.ISSUER, department_id=department.id, department_code=department.code
    )


def new_issuer(
    ctx: ServiceContext, *, algorithm: crypto.KeyAlgorithm = crypto.KeyAlgorithm.ECDSA_P256
) -> tuple[TestDepartment, Principal]:
    department = new_department(ctx, algorithm=algorithm)
    return department, issuer_of(department)


def issue_sample(ctx: ServiceContext, principal: Principal, **changes: Any) -> IssuedCertificate:
    return IssuanceService(ctx).issue(sample_issue_request(**changes), principal=principal)


def audit_events(ctx: ServiceContext, *, target: str) -> list[AuditEvent]:
    with ctx.database.read() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.target == target).order_by(AuditEvent.id)))
