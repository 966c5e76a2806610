"""IssuanceService: one licence per request, its registry rows, idempotent retries, refusals."""

from __future__ import annotations

import pytest

from certsvc.domain.identifiers import LicenceIdentifier
from certsvc.errors import ConflictError, PermissionDeniedError, ValidationFailedError
from certsvc.services.context import ServiceContext
from certsvc.services.issuance import IssuanceService
from certsvc.services.principals import Principal, Role
from certsvc.storage.orm import Certificate
from certsvc.storage.repositories import CertificateRepository
from tests.services.helpers import FOOD, audit_events, new_issuer, sample_issue_request


def test_issue_records_the_licence_its_first_version_and_an_audit_event(embedded: ServiceContext) -> None:
    department, issuer = new_issuer(embedded)
    request = sample_issue_request()
    issued = IssuanceService(embedded).issue(request, principal=issuer, request_id="svc-issue-1")
    identifier = LicenceIdentifier.parse(issued.identifier)
    assert (identifier.issuer_code, identifier.version) == (department.code, 1)
    assert (issued.status, issued.version, issued.template, issued.is_replay) == ("valid", 1, FOOD, False)
    with embedded.database.read() as session:
        cert = CertificateRepository(session).by_identifier(issued.identifier)
        assert isinstance(cert, Certificate)
        assert cert.holder_id == request.holder.id and cert.data["licence_number"] == request.fields["licence_number"]
        (version,) = cert.versions
        assert (version.sha256, version.seal_id, version.reason) == (issued.sha256, department.seal_id, "issue")
    assert embedded.blobs.get(issued.sha256).startswith(b"%PDF")
    (event,) = audit_events(embedded, target=issued.identifier)
    assert (event.action, event.request_id, event.details["sha256"]) == ("certificate.issue", "svc-issue-1", issued.sha256)


def test_a_retry_with_the_same_key_answers_the_first_result_and_another_body_is_a_conflict(
    embedded: ServiceContext,
) -> None:
    _, issuer = new_issuer(embedded)
    service = IssuanceService(embedded)
    first = service.issue(sample_issue_request(), principal=issuer, idempotency_key="svc-retry")
    again = service.issue(sample_issue_request(), principal=issuer, idempotency_key="svc-retry")
    assert again.is_replay and (again.identifier, again.sha256) == (first.identifier, first.sha256)
    with pytest.raises(ConflictError) as refused:
        service.issue(sample_issue_request(valid_until="2030-01-01"), principal=issuer, idempotency_key="svc-retry")
    assert refused.value.code == "idempotency_key_reused"


def test_only_issuers_of_a_department_issue_and_bad_fields_are_listed(embedded: ServiceContext) -> None:
    _, issuer = new_issuer(embedded)
    operator = Principal(client_id=0, name="op", role=Role.OPERATOR, department_id=None, department_code=None)
    with pytest.raises(PermissionDeniedError):
        IssuanceService(embedded).issue(sample_issue_request(), principal=operator)
    request = sample_issue_request()
    bad = request.model_copy(update={"fields": {**request.fields, "licence_number": "", "unknown": "x"}})
    with pytest.raises(ValidationFailedError) as problems:
        IssuanceService(embedded).issue(bad, principal=issuer)
    assert {p["field"] for p in problems.value.details} == {"licence_number", "unknown"}
