"""GET /api/v1/certificates: a department's licences, filtered, one cursor page at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from certsvc.services.context import ServiceContext
from tests.conftest import auth, make_department, sample_request
from tests.idp import fresh_uscc

LIST = "/api/v1/certificates"


@pytest.fixture(scope="module")
def department(client: TestClient, embedded: ServiceContext) -> dict[str, Any]:
    """A department of its own with three licences: two food (one suspended), one drug."""
    code, key, _ = make_department(embedded)
    issued = []
    for slug in ("food-business-licence", "food-business-licence", "drug-business-licence"):
        body = sample_request(slug)
        body["holder"]["id"] = fresh_uscc()
        response = client.post(LIST, json=body, headers=auth(key))
        assert response.status_code == 201, response.text
        issued.append({**response.json(), "request": body})
    suspended = client.post(f"{LIST}/{issued[0]['identifier']}/suspend", json={"reason": "停业整顿"}, headers=auth(key))
    assert suspended.status_code == 200, suspended.text
    return {"code": code, "key": key, "issued": issued}


def _identifiers(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["identifier"] for item in response.json()]


def test_pages_follow_the_cursor_newest_first_without_repeats(client: TestClient, department: dict[str, Any]) -> None:
    newest_first = [c["identifier"] for c in reversed(department["issued"])]
    first = client.get(LIST, params={"limit": 2}, headers=auth(department["key"]))
    assert _identifiers(first) == newest_first[:2]
    cursor = first.headers["X-Next-Cursor"]
    assert first.headers["Link"].endswith('; rel="next"') and f"cursor={cursor}" in first.headers["Link"]

    second = client.get(LIST, params={"limit": 2, "cursor": cursor}, headers=auth(department["key"]))
    assert _identifiers(second) == newest_first[2:]
    assert "Link" not in second.headers and "X-Next-Cursor" not in second.headers
    # The Link header is the whole next request: following it gives the same page.
    link = first.headers["Link"].split(";")[0].strip("<>")
    assert _identifiers(client.get(link, headers=auth(department["key"]))) == newest_first[2:]


def test_each_filter_narrows_the_list(client: TestClient, department: dict[str, Any]) -> None:
    food_suspended, food_valid, drug = department["issued"]
    key = auth(department["key"])

    def ids(**params: Any) -> set[str]:
        return set(_identifiers(client.get(LIST, params=params, headers=key)))

    assert ids(status="suspended") == {food_suspended["identifier"]}
    assert ids(status="valid") == {food_valid["identifier"], drug["identifier"]}
    assert ids(status="revoked") == set()
    assert ids(template="drug-business-licence") == {drug["identifier"]}
    assert ids(holder_id=food_valid["request"]["holder"]["id"]) == {food_valid["identifier"]}
    number = food_valid["request"]["fields"]["licence_number"]
    assert ids(licence_number=number) == {food_valid["identifier"]}
    now = datetime.now(UTC)
    assert len(ids(issued_from=(now - timedelta(hours=1)).isoformat(), issued_until=(now + timedelta(hours=1)).isoformat())) == 3
    assert ids(issued_until=(now - timedelta(days=1)).isoformat()) == set()
    assert ids(template="drug-business-licence", status="suspended") == set()


def test_a_department_never_sees_another_departments_licences(
    client: TestClient, department: dict[str, Any], ecdsa_key: str, operator_key: str
) -> None:
    mine = {c["identifier"] for c in department["issued"]}
    assert client.post(LIST, json=sample_request(), headers=auth(ecdsa_key)).status_code == 201
    others = set(_identifiers(client.get(LIST, params={"limit": 500}, headers=auth(ecdsa_key))))
    assert others and not (others & mine)
    refused = client.get(LIST, params={"department": department["code"]}, headers=auth(ecdsa_key))
    assert refused.status_code == 422 and refused.json()["code"] == "validation_failed"
    # An operator lists any department by its code.
    operator_view = client.get(LIST, params={"department": department["code"]}, headers=auth(operator_key))
    assert set(_identifiers(operator_view)) == mine


def test_bad_paging_and_filter_input_is_a_problem(client: TestClient, department: dict[str, Any]) -> None:
    key = auth(department["key"])
    for params in ({"cursor": "not-a-cursor"}, {"cursor": "YzE6LTE"}):
        response = client.get(LIST, params=params, headers=key)
        assert response.status_code == 400 and response.json()["code"] == "invalid_cursor", response.text
        assert response.headers["content-type"] == "application/problem+json"
    for params in ({"limit": 0}, {"limit": 501}, {"status": "lost"}, {"issued_from": "2026-01-01T00:00:00"}):
        response = client.get(LIST, params=params, headers=key)
        assert response.status_code == 422 and response.json()["code"] == "validation_failed", params
    assert client.get(LIST).status_code == 401
