"""The catalogue's validity rule at issuance: a term's ceiling, a computed end, 长期, per licence."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from certsvc.errors import ValidationFailedError
from certsvc.services.context import ServiceContext
from certsvc.services.issuance_rules import resolve_valid_until, term_last_day
from tests.conftest import auth, sample_request


def _valid_until(client: TestClient, api_key: str, identifier: str) -> str:
    read = client.get(f"/api/v1/certificates/{identifier}", headers=auth(api_key))
    assert read.status_code == 200, read.text
    return str(read.json()["valid_until"])


def test_a_term_ends_the_day_before_its_anniversary() -> None:
    assert term_last_day(date(2026, 3, 15), 5) == date(2031, 3, 14)
    assert term_last_day(date(2028, 2, 29), 1) == date(2029, 2, 28)  # no 29 February in 2029
    assert term_last_day(date(2028, 2, 29), 4) == date(2032, 2, 28)


def test_issuance_refuses_a_period_longer_than_the_term(client: TestClient, ecdsa_key: str) -> None:
    body = sample_request("food-business-licence")  # 5 years, 《食品经营许可和备案管理办法》
    body["valid_from"], body["valid_until"] = "2026-03-15", "2031-03-15"  # one day too long
    refused = client.post("/api/v1/certificates", json=body, headers=auth(ecdsa_key))
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["code"] == "validity_exceeds_term"
    assert problem["latest_valid_until"] == "2031-03-14"
    assert problem["errors"] == [{"field": "valid_until", "problem": "after 2031-03-14"}]


def test_a_shorter_period_is_kept_and_a_missing_end_is_the_whole_term(
    client: TestClient, ecdsa_key: str
) -> None:
    shorter = sample_request("food-business-licence")
    shorter["valid_from"], shorter["valid_until"] = "2026-03-15", "2028-06-30"
    issued = client.post("/api/v1/certificates", json=shorter, headers=auth(ecdsa_key))
    assert issued.status_code == 201, issued.text
    assert _valid_until(client, ecdsa_key, issued.json()["identifier"]) == "2028-06-30"

    computed = sample_request("food-business-licence")
    computed["valid_from"] = "2026-03-15"
    del computed["valid_until"]
    issued = client.post("/api/v1/certificates", json=computed, headers=auth(ecdsa_key))
    assert issued.status_code == 201, issued.text
    assert _valid_until(client, ecdsa_key, issued.json()["identifier"]) == "2031-03-14"


def test_a_type_whose_department_sets_the_period_needs_an_end(
    client: TestClient, sm2_key: str
) -> None:
    body = sample_request("construction-planning-permit")  # per_licence
    del body["valid_until"]
    refused = client.post("/api/v1/certificates", json=body, headers=auth(sm2_key))
    assert refused.status_code == 422 and refused.json()["code"] == "valid_until_required"
    body["valid_until"] = "2040-12-31"  # the department's decision, not the catalogue's
    assert client.post("/api/v1/certificates", json=body, headers=auth(sm2_key)).status_code == 201


def test_amending_the_period_meets_the_rule_too(client: TestClient, ecdsa_key: str) -> None:
    issued = client.post(
        "/api/v1/certificates",
        json=sample_request("food-business-licence"),
        headers=auth(ecdsa_key),
    )
    assert issued.status_code == 201, issued.text
    identifier = issued.json()["identifier"]
    valid_from = date.fromisoformat(
        client.get(f"/api/v1/certificates/{identifier}", headers=auth(ecdsa_key)).json()[
            "valid_from"
        ]
    )
    too_long = term_last_day(valid_from, 5).replace(year=valid_from.year + 6)
    refused = client.post(
        f"/api/v1/certificates/{identifier}/amend",
        json={"valid_until": too_long.isoformat(), "reason": "延长有效期"},
        headers=auth(ecdsa_key),
    )
    assert refused.status_code == 422 and refused.json()["code"] == "validity_exceeds_term", (
        refused.text
    )


def test_long_term_types_end_never(embedded: ServiceContext) -> None:
    title = embedded.templates.get("real-estate-title")  # 不动产权证书: 长期
    assert resolve_valid_until(title, date(2026, 3, 15), None) == date(9999, 12, 31)
    assert resolve_valid_until(title, date(2026, 3, 15), date(9999, 12, 31)) == date(9999, 12, 31)
    with pytest.raises(ValidationFailedError) as refused:
        resolve_valid_until(title, date(2026, 3, 15), date(2036, 3, 14))
    assert refused.value.code == "validity_must_be_long_term"


def test_a_rule_with_a_longer_ceiling_computes_the_usual_term(
    client: TestClient, sm2_key: str
) -> None:
    permit = sample_request("water-abstraction-permit")  # 一般为5年，最长不超过10年
    del permit["valid_until"]
    issued = client.post("/api/v1/certificates", json=permit, headers=auth(sm2_key))
    assert issued.status_code == 201, issued.text
    assert _valid_until(client, sm2_key, issued.json()["identifier"]) == "2031-03-14"
    longest = sample_request("water-abstraction-permit")
    longest["valid_until"] = "2036-03-14"  # ten years: allowed
    assert (
        client.post("/api/v1/certificates", json=longest, headers=auth(sm2_key)).status_code == 201
    )
    longest = sample_request("water-abstraction-permit")
    longest["valid_until"] = "2036-03-15"
    refused = client.post("/api/v1/certificates", json=longest, headers=auth(sm2_key))
    assert refused.status_code == 422 and refused.json()["latest_valid_until"] == "2036-03-14"


def test_a_long_term_licence_is_issued_without_an_end(client: TestClient, sm2_key: str) -> None:
    title = sample_request("real-estate-title")
    del title["valid_until"]
    issued = client.post("/api/v1/certificates", json=title, headers=auth(sm2_key))
    assert issued.status_code == 201, issued.text
    assert _valid_until(client, sm2_key, issued.json()["identifier"]) == "9999-12-31"
    page = client.get(f"/v/{issued.json()['identifier']}")  # what the QR code opens
    assert page.status_code == 200 and "长期" in page.text and "9999" not in page.text
    dated = sample_request("real-estate-title")
    dated["valid_until"] = "2046-03-14"
    refused = client.post("/api/v1/certificates", json=dated, headers=auth(sm2_key))
    assert refused.status_code == 422 and refused.json()["code"] == "validity_must_be_long_term"
