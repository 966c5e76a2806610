"""Which seal signs: the department's default seal, or the seal of the template's purpose.

Adding a seal never changes it by itself (the README's own example adds an SM2 seal to a
department that signs with ECDSA)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from certsvc.domain.paging import PageRequest
from certsvc.errors import ConflictError
from certsvc.rendering.templates import TemplateRegistry
from certsvc.services.context import ServiceContext
from certsvc.services.issuance import IssuanceService
from certsvc.services.principals import Principal, Role, local_operator
from certsvc.services.requests import parse_issue_request
from certsvc.services.seal_admin import SealAdminService
from certsvc.storage.orm import Certificate
from certsvc.storage.repositories import CertificateRepository
from tests.conftest import TEMPLATES, auth, make_department, sample_request

OPERATOR = local_operator()


def _seal_of(ctx: ServiceContext, identifier: str) -> int:
    with ctx.database.read() as session:
        cert = CertificateRepository(session).by_identifier(identifier)
        assert isinstance(cert, Certificate)
        return next(v.seal_id for v in cert.versions if v.identifier == identifier)


def _issue(client: TestClient, key: str) -> str:
    response = client.post("/api/v1/certificates", json=sample_request(), headers=auth(key))
    assert response.status_code == 201, response.text
    identifier: str = response.json()["identifier"]
    return identifier


def test_adding_a_seal_does_not_switch_issuance_until_it_is_made_default(
    client: TestClient, embedded: ServiceContext, operator_key: str
) -> None:
    code, key, _ = make_department(embedded)
    admin = SealAdminService(embedded)
    (first,) = admin.list_seals(code, principal=OPERATOR, page=PageRequest()).items
    assert first.is_default and first.purpose == first.name  # the first seal becomes the default
    assert _seal_of(embedded, _issue(client, key)) == first.id

    # The README's example: an SM2 seal added to a department that signs with ECDSA.
    sm2 = admin.add_seal(code, name="行政许可专用章", algorithm="sm2", validity_days=365, principal=OPERATOR)
    assert not sm2.is_default
    assert _seal_of(embedded, _issue(client, key)) == first.id

    made = client.post(f"/api/v1/admin/seals/{sm2.id}/default", headers=auth(operator_key))
    assert made.status_code == 200 and made.json()["is_default"]
    assert [s.id for s in admin.list_seals(code, principal=OPERATOR, page=PageRequest()).items if s.is_default] == [sm2.id]
    identifier = _issue(client, key)
    assert _seal_of(embedded, identifier) == sm2.id
    report = client.post(
        "/api/v1/verify",
        content=client.get(f"/api/v1/certificates/{identifier}/pdf", headers=auth(key)).content,
        headers={"content-type": "application/pdf"},
    ).json()
    assert report["verdict"] == "valid"


def test_a_retired_default_stops_issuance_instead_of_falling_back(client: TestClient, embedded: ServiceContext) -> None:
    code, key, _ = make_department(embedded)
    admin = SealAdminService(embedded)
    (first,) = admin.list_seals(code, principal=OPERATOR, page=PageRequest()).items
    other = admin.add_seal(code, name="公章", algorithm="ecdsa-p256", validity_days=365, principal=OPERATOR)
    admin.retire_seal(first.id, principal=OPERATOR)

    refused = client.post("/api/v1/certificates", json=sample_request(), headers=auth(key))
    assert refused.status_code == 409 and refused.json()["code"] == "default_seal_unusable"
    with pytest.raises(ConflictError) as retired:
        admin.set_default_seal(first.id, principal=OPERATOR)
    assert retired.value.code == "seal_retired"
    admin.set_default_seal(other.id, principal=OPERATOR)
    assert _seal_of(embedded, _issue(client, key)) == other.id


@pytest.fixture(scope="module")
def purpose_ctx(embedded: ServiceContext, tmp_path_factory: pytest.TempPathFactory) -> ServiceContext:
    """The session deployment with the food template declaring the seal purpose 食品经营许可专用章."""
    root = tmp_path_factory.mktemp("templates")
    for directory in TEMPLATES.iterdir():
        if (directory / "template.json").exists():
            shutil.copytree(directory, root / directory.name)
    spec_path = root / "food-business-licence" / "template.json"
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    spec["seal_purpose"] = "食品经营许可专用章"
    spec_path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return dataclasses.replace(embedded, templates=TemplateRegistry.load(Path(root)))


def test_a_template_seal_purpose_picks_the_seal_of_that_purpose(purpose_ctx: ServiceContext) -> None:
    code, _, _ = make_department(purpose_ctx)
    admin = SealAdminService(purpose_ctx)
    (default,) = admin.list_seals(code, principal=OPERATOR, page=PageRequest()).items
    with purpose_ctx.database.read() as session:
        from certsvc.services.provisioning import department_by_code

        department_id = department_by_code(session, code).id
    issuer = Principal(client_id=0, name="test-issuer", role=Role.ISSUER, department_id=department_id, department_code=code)
    issuance = IssuanceService(purpose_ctx)

    with pytest.raises(ConflictError) as missing:
        issuance.issue(parse_issue_request(sample_request()), principal=issuer)
    assert missing.value.code == "no_seal_for_purpose"

    food = admin.add_seal(code, name="食品经营许可专用章", algorithm="ecdsa-p256", validity_days=365, principal=OPERATOR)
    admin.add_seal(
        code, name="食品经营许可专用章（二）", purpose="食品经营许可专用章", algorithm="sm2", validity_days=365, principal=OPERATOR
    )
    issued = issuance.issue(parse_issue_request(sample_request()), principal=issuer)
    assert _seal_of(purpose_ctx, issued.identifier) == food.id  # the oldest of the purpose, not the newest

    # A template naming no purpose still gets the default seal.
    decision = issuance.issue(parse_issue_request(sample_request("administrative-licensing-decision")), principal=issuer)
    assert _seal_of(purpose_ctx, decision.identifier) == default.id
