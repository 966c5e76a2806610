"""Issuing and reading licences over HTTP, and every error a caller can cause."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from certsvc.domain.identifiers import LicenceIdentifier
from certsvc.services.context import ServiceContext
from certsvc.storage.orm import AuditEvent
from tests.conftest import PUBLIC_URL, auth, sample_request

PROBLEM = "application/problem+json"


def _issue(client: TestClient, key: str, body: dict[str, object] | None = None, **headers: str) -> object:
    return client.post("/api/v1/certificates", json=body or sample_request(), headers={**auth(key), **headers})


def test_issue_returns_identifier_hash_and_links(client: TestClient, ecdsa_key: str) -> None:
    response = _issue(client, ecdsa_key)
    assert response.status_code == 201, response.text
    body = response.json()
    ident = LicenceIdentifier.parse(body["identifier"])
    assert ident.issuer_code == "11152500011512829G" and ident.version == 1
    assert body["status"] == "valid"
    assert body["links"]["verification_page"] == f"{PUBLIC_URL}/v/{body['identifier']}"

    pdf = client.get(body["links"]["pdf"], headers=auth(ecdsa_key))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert hashlib.sha256(pdf.content).hexdigest() == body["sha256"]

    meta = client.get(f"/api/v1/certificates/{body['identifier']}", headers=auth(ecdsa_key))
    assert meta.status_code == 200
    assert meta.json()["holder"]["name"] == sample_request()["holder"]["name"]
    assert meta.json()["versions"][0]["sha256"] == body["sha256"]


def test_print_variant_is_a_different_pdf(client: TestClient, ecdsa_key: str) -> None:
    body = _issue(client, ecdsa_key).json()
    printed = client.get(body["links"]["print_pdf"], headers=auth(ecdsa_key))
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF-")
    assert hashlib.sha256(printed.content).hexdigest() != body["sha256"]


def test_same_idempotency_key_returns_the_first_licence(client: TestClient, ecdsa_key: str) -> None:
    key, body = uuid.uuid4().hex, sample_request()
    first = _issue(client, ecdsa_key, body, **{"Idempotency-Key": key})
    second = _issue(client, ecdsa_key, body, **{"Idempotency-Key": key})
    assert first.status_code == second.status_code == 201
    assert first.json()["identifier"] == second.json()["identifier"]
    assert second.headers["Idempotent-Replayed"] == "true"


def test_idempotency_key_reused_for_other_data_is_a_conflict(client: TestClient, ecdsa_key: str) -> None:
    key, body = uuid.uuid4().hex, sample_request()
    assert _issue(client, ecdsa_key, body, **{"Idempotency-Key": key}).status_code == 201
    other = dict(body, holder=dict(body["holder"]))
    other["holder"]["name"] = "另一家餐饮有限公司"
    response = _issue(client, ecdsa_key, other, **{"Idempotency-Key": key})
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"


def _problem(response: object, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == PROBLEM  # type: ignore[attr-defined]
    body: dict[str, object] = response.json()  # type: ignore[attr-defined]
    assert body["code"] == code
    return body


def test_unknown_template(client: TestClient, ecdsa_key: str) -> None:
    body = sample_request()
    body["template"] = "no-such-licence"
    _problem(_issue(client, ecdsa_key, body), 422, "unknown_template")


def test_missing_and_invalid_fields_are_all_listed(client: TestClient, ecdsa_key: str) -> None:
    body = sample_request()
    required = next(iter(body["fields"]))
    del body["fields"][required]
    body["fields"]["no_such_field"] = "x"
    problem = _problem(_issue(client, ecdsa_key, body), 422, "validation_failed")
    fields = {e["field"] for e in problem["errors"]}  # type: ignore[union-attr]
    assert {required, "no_such_field"} <= fields


def test_malformed_body_is_a_validation_problem(client: TestClient, ecdsa_key: str) -> None:
    body = sample_request()
    body["valid_until"] = "not-a-date"
    _problem(_issue(client, ecdsa_key, body), 422, "validation_failed")
    response = client.post(
        "/api/v1/certificates", content=b"{not json", headers={**auth(ecdsa_key), "content-type": "application/json"}
    )
    _problem(response, 422, "validation_failed")


def test_period_must_be_ordered(client: TestClient, ecdsa_key: str) -> None:
    body = sample_request()
    body["valid_from"], body["valid_until"] = body["valid_until"], body["valid_from"]
    _problem(_issue(client, ecdsa_key, body), 422, "validation_failed")


@pytest.mark.parametrize("holder", [{"id_type": "uscc", "id": "91350100M000100Y44"}, {"id_type": "resident_id", "id": "110105194912310021"}])
def test_bad_holder_id(client: TestClient, ecdsa_key: str, holder: dict[str, str]) -> None:
    body = sample_request()
    body["holder"].update(holder)
    _problem(_issue(client, ecdsa_key, body), 422, "invalid_holder_id")


@pytest.mark.parametrize("header", [None, "Bearer csk_0000_nope", "Basic abc", "Bearer "])
def test_missing_or_bad_api_key_is_401(client: TestClient, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = client.post("/api/v1/certificates", json=sample_request(), headers=headers)
    _problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"


def test_unknown_licence_is_404(client: TestClient, ecdsa_key: str) -> None:
    _problem(client.get("/api/v1/certificates/1.2.156.3005.2.x", headers=auth(ecdsa_key)), 404, "not_found")
    _problem(client.get("/api/v1/certificates/1.2.156.3005.2.x/pdf", headers=auth(ecdsa_key)), 404, "not_found")


def test_other_departments_licence_is_404_and_the_attempt_is_recorded(
    client: TestClient, embedded: ServiceContext, ecdsa_key: str, sm2_key: str
) -> None:
    identifier = _issue(client, ecdsa_key).json()["identifier"]
    _problem(client.get(f"/api/v1/certificates/{identifier}", headers=auth(sm2_key)), 404, "not_found")
    _problem(client.get(f"/api/v1/certificates/{identifier}/pdf", headers=auth(sm2_key)), 404, "not_found")
    with embedded.database.read() as session:
        refused = session.scalars(
            select(AuditEvent).where(AuditEvent.target == identifier, AuditEvent.outcome == "refused_other_department")
        ).all()
    assert len(refused) == 2


def test_healthz(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"


def test_openapi_documents_the_routes(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/v1/certificates", "/api/v1/certificates/{identifier}", "/api/v1/verify"} <= set(paths)
