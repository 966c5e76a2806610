"""Input a caller controls is answered 4xx with a stable code, never 500."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from certsvc.services.context import ServiceContext
from tests.conftest import auth, make_department

BEYOND_INT64 = 2**63  # one past SQLite's INTEGER range
BEYOND_INT32 = 2**31  # one past PostgreSQL's integer


def test_a_seal_name_the_seal_font_cannot_draw_is_a_422(
    client: TestClient, embedded: ServiceContext, operator_key: str
) -> None:
    code, _, _ = make_department(embedded)
    keys_before = set(embedded.settings.key_dir.iterdir())
    response = client.post(
        f"/api/v1/admin/departments/{code}/seals",
        json={"name": "行政许可专用章𠀀", "algorithm": "ecdsa-p256"},
        headers=auth(operator_key),
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "seal_text_not_drawable"
    assert body["errors"] == [{"field": "name", "problem": "the seal font cannot draw 𠀀 (U+20000)"}]
    assert set(embedded.settings.key_dir.iterdir()) == keys_before  # refused before any key was made


@pytest.mark.parametrize("big", [BEYOND_INT32, BEYOND_INT64, 10**30])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/batches/{id}"),
        ("GET", "/api/v1/batches/{id}/failures"),
        ("POST", "/api/v1/batches/{id}/cancel"),
        ("POST", "/api/v1/admin/clients/{id}/revoke"),
        ("POST", "/api/v1/admin/seals/{id}/retire"),
        ("POST", "/api/v1/admin/seals/{id}/default"),
        ("PUT", "/api/v1/admin/seals/{id}/image"),
    ],
)
def test_ids_beyond_the_database_range_are_4xx(
    client: TestClient, operator_key: str, method: str, path: str, big: int
) -> None:
    response = client.request(method, path.format(id=big), headers=auth(operator_key), content=b"")
    assert 400 <= response.status_code < 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] in ("not_found", "validation_failed")


def test_a_revision_beyond_the_database_range_is_4xx(client: TestClient, ecdsa_key: str) -> None:
    from tests.conftest import sample_request

    issued = client.post("/api/v1/certificates", json=sample_request(), headers=auth(ecdsa_key))
    assert issued.status_code == 201, issued.text
    identifier = issued.json()["identifier"]
    response = client.get(f"/api/v1/certificates/{identifier}/pdf?revision={BEYOND_INT64}", headers=auth(ecdsa_key))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_failed"


def test_seal_ids_in_a_batch_body_beyond_the_range_are_4xx(client: TestClient, operator_key: str) -> None:
    response = client.post(
        "/api/v1/batches", json={"kind": "resign", "to_seal": BEYOND_INT64, "dry_run": True}, headers=auth(operator_key)
    )
    assert response.status_code == 422, response.text
