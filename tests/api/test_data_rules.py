"""The registry's data rules over HTTP: no licence born expired, one licence per 许可证编号,
licence types per department, idempotent replays that return the first answer."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from certsvc.services.context import ServiceContext
from certsvc.services.licence_types import LicenceTypeService
from certsvc.services.principals import local_operator
from certsvc.storage.orm import Certificate
from tests.conftest import auth, make_department, sample_request

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
def department(embedded: ServiceContext) -> tuple[str, str]:
    """A department of this module's own: (code, issuer key)."""
    code, issuer, _ = make_department(embedded)
    return code, issuer


def _issue(client: TestClient, key: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post("/api/v1/certificates", json=body, headers={**auth(key), **headers})


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


# --- a licence past its validity ------------------------------------------------------------
def test_a_licence_whose_validity_has_ended_is_refused(
    client: TestClient, embedded: ServiceContext, department: tuple[str, str]
) -> None:
    _, key = department
    today = embedded.clock.now().date()
    body = sample_request()
    body["valid_from"], body["valid_until"] = str(today - timedelta(days=800)), str(today - timedelta(days=1))
    problem = _problem(_issue(client, key, body), 422, "validity_already_ended")
    assert problem["errors"][0]["field"] == "valid_until"
    with embedded.database.read() as session:
        number = body["fields"]["licence_number"]
        assert session.scalar(select(Certificate).where(Certificate.licence_number == number)) is None

    # Its last day is today: still valid, and every reader says so.
    body["valid_until"] = str(today)
    issued = _issue(client, key, body)
    assert issued.status_code == 201 and issued.json()["status"] == "valid"
    assert client.get(issued.headers["Location"], headers=auth(key)).json()["status"] == "valid"


def test_an_amendment_cannot_end_the_validity_in_the_past(
    client: TestClient, embedded: ServiceContext, department: tuple[str, str]
) -> None:
    _, key = department
    identifier = _issue(client, key, sample_request()).json()["identifier"]
    yesterday = embedded.clock.now().date() - timedelta(days=1)
    amended = client.post(
        f"/api/v1/certificates/{identifier}/amend",
        json={"reason": "有效期更正", "valid_from": str(yesterday - timedelta(days=30)), "valid_until": str(yesterday)},
        headers=auth(key),
    )
    _problem(amended, 422, "validity_already_ended")


# --- one licence per number -------------------------------------------------------------------
def test_a_repeated_licence_number_is_refused_naming_the_licence_that_holds_it(
    client: TestClient, department: tuple[str, str]
) -> None:
    _, key = department
    body = sample_request()
    first = _issue(client, key, body)
    assert first.status_code == 201
    again = dict(body, holder={**body["holder"], "name": "锡林浩特市另一家餐饮有限公司"})
    problem = _problem(_issue(client, key, again), 409, "duplicate_licence_number")
    assert problem["existing_identifier"] == first.json()["identifier"]  # a problem+json extension member
    assert body["fields"]["licence_number"] in problem["title"]


def test_the_same_number_is_free_in_another_department_or_licence_type(
    client: TestClient, embedded: ServiceContext, department: tuple[str, str]
) -> None:
    _, key = department
    body = sample_request()
    assert _issue(client, key, body).status_code == 201
    _, other_key, _ = make_department(embedded)
    assert _issue(client, other_key, body).status_code == 201

    decision = sample_request("administrative-licensing-decision")
    drug = sample_request("drug-business-licence")
    drug["fields"]["licence_number"] = "蒙AA1234567"
    decision["fields"]["decision_number"] = "锡市监许〔2026〕4567号"
    assert _issue(client, key, drug).status_code == 201
    assert _issue(client, key, decision).status_code == 201


def test_amend_and_reissue_keep_the_number_but_cannot_take_another_licences(
    client: TestClient, department: tuple[str, str]
) -> None:
    _, key = department
    first = sample_request()
    held = _issue(client, key, first).json()["identifier"]
    identifier = _issue(client, key, sample_request()).json()["identifier"]

    amended = client.post(
        f"/api/v1/certificates/{identifier}/amend",
        json={"reason": "经营场所变更", "fields": {"business_premises": "锡林浩特市额尔敦路 18 号"}},
        headers=auth(key),
    )
    assert amended.status_code == 200, amended.text
    identifier = amended.json()["identifier"]
    reissued = client.post(f"/api/v1/certificates/{identifier}/reissue", json={"reason": "遗失补发"}, headers=auth(key))
    assert reissued.status_code == 200, reissued.text
    identifier = reissued.json()["identifier"]

    taken = client.post(
        f"/api/v1/certificates/{identifier}/amend",
        json={"reason": "编号更正", "fields": {"licence_number": first["fields"]["licence_number"]}},
        headers=auth(key),
    )
    assert _problem(taken, 409, "duplicate_licence_number")["existing_identifier"] == held


def test_concurrent_issues_of_one_number_leave_one_licence(
    server_url: str, embedded: ServiceContext, department: tuple[str, str]
) -> None:
    _, key = department
    body = sample_request()

    def issue(i: int) -> httpx.Response:
        request = dict(body, holder={**body["holder"], "name": f"锡林浩特市第{i}家餐饮有限公司"})
        return httpx.post(f"{server_url}/api/v1/certificates", json=request, headers=auth(key), timeout=120)

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(issue, range(4)))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 201).json()["identifier"]
    assert all(a.json()["existing_identifier"] == winner for a in answers if a.status_code == 409)
    with embedded.database.read() as session:
        holders = session.scalars(
            select(Certificate.identifier).where(Certificate.licence_number == body["fields"]["licence_number"])
        ).all()
    assert holders == [winner]


# --- licence types per department --------------------------------------------------------------
def test_demo_departments_issue_only_their_licence_types(client: TestClient, ecdsa_key: str, sm2_key: str) -> None:
    permit = sample_request("construction-planning-permit")
    problem = _problem(_issue(client, ecdsa_key, permit), 403, "licence_type_not_allowed")  # 市场监督管理局
    assert "construction-planning-permit" in problem["title"]
    assert _issue(client, sm2_key, permit).status_code == 201  # 行政审批和政务服务局
    assert _issue(client, ecdsa_key, sample_request("drug-business-licence")).status_code == 201


def test_operators_allow_and_withdraw_licence_types(
    client: TestClient, embedded: ServiceContext, operator_key: str
) -> None:
    code, key, _ = make_department(embedded)
    LicenceTypeService(embedded).change(code, remove=["food-business-licence"], principal=local_operator())
    _problem(_issue(client, key, sample_request()), 403, "licence_type_not_allowed")

    url = f"/api/v1/admin/departments/{code}/licence-types"
    allowed = client.patch(url, json={"add": ["food-business-licence"]}, headers=auth(operator_key))
    assert allowed.status_code == 200 and "food-business-licence" in allowed.json()["templates"]
    assert _issue(client, key, sample_request()).status_code == 201

    withdrawn = client.patch(url, json={"remove": ["food-business-licence"]}, headers=auth(operator_key))
    assert "food-business-licence" not in withdrawn.json()["templates"]
    assert client.get(url, headers=auth(operator_key)).json() == withdrawn.json()
    _problem(_issue(client, key, sample_request()), 403, "licence_type_not_allowed")

    _problem(client.patch(url, json={"add": ["no-such-licence"]}, headers=auth(operator_key)), 422, "unknown_template")
    _problem(client.patch(url, json={"add": []}, headers=auth(key)), 403, "forbidden")
    shown = client.get(f"/api/v1/admin/departments/{code}", headers=auth(operator_key)).json()
    assert shown["licence_types"] == withdrawn.json()["templates"]


# --- idempotent replays -------------------------------------------------------------------------
def test_a_replay_after_an_amendment_returns_the_first_answer(client: TestClient, department: tuple[str, str]) -> None:
    _, key = department
    idempotency_key, body = uuid.uuid4().hex, sample_request()
    first = _issue(client, key, body, **{"Idempotency-Key": idempotency_key})
    assert first.status_code == 201
    amended = client.post(
        f"/api/v1/certificates/{first.json()['identifier']}/amend",
        json={"reason": "法定代表人变更", "fields": {"legal_representative": "李四"}},
        headers=auth(key),
    )
    assert amended.status_code == 200 and amended.json()["version"] == 2

    replay = _issue(client, key, body, **{"Idempotency-Key": idempotency_key})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
