"""Receiving departments: query under the holder's authorization, check, download; every refusal coded and recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from certsvc.services.context import ServiceContext
from certsvc.storage.orm import AuditEvent
from certsvc.storage.orm_sharing import UsageRecord
from tests.conftest import auth
from tests.idp import (
    DRUG,
    FOOD,
    IdentityProvider,
    fresh_uscc,
    grant,
    holder_auth,
    issue_for,
    query_body,
)


@pytest.fixture()
def scene(holder_client: TestClient, holder_ctx: ServiceContext, idp: IdentityProvider, ecdsa_key: str, receivers: dict[str, Any]) -> dict[str, Any]:
    holder = fresh_uscc()
    identifier = issue_for(holder_client, ecdsa_key, holder)
    return {"holder": holder, "identifier": identifier, "a": receivers["a"], "b": receivers["b"]}


def _query(client: TestClient, key: str, body: dict[str, str]) -> Any:
    return client.post("/api/v1/sharing/query", json=body, headers=auth(key))


def _records(ctx: ServiceContext, holder: str) -> list[UsageRecord]:
    with ctx.database.read() as session:
        return list(session.scalars(select(UsageRecord).where(UsageRecord.holder_id == holder).order_by(UsageRecord.id)))


def test_query_returns_the_licence_and_a_short_lived_download_link(
    holder_client: TestClient, holder_ctx: ServiceContext, idp: IdentityProvider, scene: dict[str, Any], holder_clock: Any
) -> None:
    code = grant(holder_client, idp, holder_ctx, scene["holder"], scene["a"]["code"])["code"]
    answer = _query(holder_client, scene["a"]["key"], query_body(scene["holder"], code))
    assert answer.status_code == 200, answer.text
    [licence] = answer.json()["licences"]
    assert licence["identifier"] == scene["identifier"] and licence["holder_id"] == scene["holder"]
    assert licence["fields"]["licence_number"]
    url = licence["download_url"].replace("http://testserver", "")
    pdf = holder_client.get(url, headers=auth(scene["a"]["key"]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-length"] == str(len(pdf.content)) and pdf.headers["cache-control"] == "no-store"
    assert pdf.headers["content-disposition"] == f"attachment; filename*=UTF-8''{scene['identifier']}.pdf"
    # Bound to the client that asked, and short-lived.
    assert holder_client.get(url, headers=auth(scene["b"]["key"])).json()["code"] == "download_link_other_client"
    assert holder_client.get(url[:-3] + "xyz", headers=auth(scene["a"]["key"])).json()["code"] == "download_link_invalid"
    holder_clock.advance(timedelta(seconds=holder_ctx.settings.sharing_link_seconds + 1))
    assert holder_client.get(url, headers=auth(scene["a"]["key"])).json()["code"] == "download_link_expired"
    ops = [(r.operation, r.result) for r in _records(holder_ctx, scene["holder"])]
    assert ops == [
        ("query", "ok"),
        ("download", "ok"),
        ("download", "download_link_other_client"),
        ("download", "download_link_expired"),
    ]


def test_scope_enforcement_each_refusal_has_its_code_and_is_recorded(
    holder_client: TestClient,
    holder_ctx: ServiceContext,
    idp: IdentityProvider,
    scene: dict[str, Any],
    sm2_key: str,
    holder_clock: Any,
) -> None:
    holder, a, b = scene["holder"], scene["a"], scene["b"]
    issue_for(holder_client, sm2_key, holder, template=DRUG)
    other_holder = fresh_uscc()
    issue_for(holder_client, sm2_key, other_holder)

    repeat = grant(holder_client, idp, holder_ctx, holder, a["code"])["code"]
    once = grant(holder_client, idp, holder_ctx, holder, a["code"], is_single_use=True)["code"]
    withdrawn = grant(holder_client, idp, holder_ctx, holder, a["code"])["code"]
    short = grant(holder_client, idp, holder_ctx, holder, a["code"], days=1)["code"]
    holder_client.post(f"/api/v1/holder/authorizations/{withdrawn}/withdraw", headers=holder_auth(idp, holder_ctx, holder))

    assert _query(holder_client, a["key"], query_body(holder, once)).status_code == 200
    expected = [
        ("authorization_unknown", 404, a, query_body(holder, "ZZZZZZZZ")),
        ("authorization_other_department", 403, b, query_body(holder, repeat)),
        ("authorization_other_licence_type", 403, a, query_body(holder, repeat, licence_type=DRUG)),
        ("authorization_other_holder", 403, a, query_body(other_holder, repeat)),
        ("authorization_other_application", 403, a, query_body(holder, repeat, application_no="BJ-OTHER")),
        ("authorization_withdrawn", 403, a, query_body(holder, withdrawn)),
        ("authorization_used", 403, a, query_body(holder, once)),
    ]
    for code, status, department, body in expected:
        response = _query(holder_client, department["key"], body)
        assert (response.status_code, response.json()["code"]) == (status, code), code
        assert holder not in response.text  # a refusal carries no holder data
    holder_clock.advance(timedelta(days=1, seconds=1))
    expired = _query(holder_client, a["key"], query_body(holder, short))
    assert expired.json()["code"] == "authorization_expired"
    # The repeatable authorization still works (until its own expiry).
    assert _query(holder_client, a["key"], query_body(holder, repeat)).status_code == 200

    results = [r.result for r in _records(holder_ctx, holder) if r.operation == "query"]
    assert results == [
        "ok",
        "authorization_unknown",
        "authorization_other_department",
        "authorization_other_licence_type",
        "authorization_other_application",
        "authorization_withdrawn",
        "authorization_used",
        "authorization_expired",
        "ok",
    ]
    # The other holder sees the attempt made with someone else's code under their id.
    assert [r.result for r in _records(holder_ctx, other_holder)] == ["authorization_other_holder"]
    with holder_ctx.database.read() as session:
        for record in _records(holder_ctx, holder):
            event = session.get(AuditEvent, record.audit_event_id)
            assert event is not None and event.details["result"] == record.result


def test_no_valid_licence_is_a_clear_answer_and_does_not_spend_a_single_use(
    holder_client: TestClient, holder_ctx: ServiceContext, idp: IdentityProvider, receivers: dict[str, Any]
) -> None:
    holder = fresh_uscc()  # holds no licence at all
    code = grant(holder_client, idp, holder_ctx, holder, receivers["a"]["code"], is_single_use=True)["code"]
    response = _query(holder_client, receivers["a"]["key"], query_body(holder, code))
    assert (response.status_code, response.json()["code"]) == (404, "no_valid_licence")
    listed = holder_client.get("/api/v1/holder/authorizations", headers=holder_auth(idp, holder_ctx, holder)).json()
    assert listed[0]["state"] == "active"


def test_a_specific_licence_authorization_returns_that_licence_only(
    holder_client: TestClient, holder_ctx: ServiceContext, idp: IdentityProvider, scene: dict[str, Any], ecdsa_key: str
) -> None:
    second = issue_for(holder_client, ecdsa_key, scene["holder"])
    code = grant(
        holder_client, idp, holder_ctx, scene["holder"], scene["a"]["code"], licence_type=None, certificate_identifier=second
    )["code"]
    licences = _query(holder_client, scene["a"]["key"], query_body(scene["holder"], code)).json()["licences"]
    assert [x["identifier"] for x in licences] == [second]


def test_check_answers_yes_or_no_without_the_licence(
    holder_client: TestClient, holder_ctx: ServiceContext, scene: dict[str, Any], ecdsa_key: str
) -> None:
    body = {
        "holder_id_type": "uscc",
        "holder_id": scene["holder"],
        "identifier": scene["identifier"],
        "licence_type": FOOD,
        "application_no": "BJ-9",
        "reason": "核验申请人提交的证照信息",
    }
    match = holder_client.post("/api/v1/sharing/check", json=body, headers=auth(scene["a"]["key"]))
    assert match.status_code == 200 and match.json()["is_match"] is True
    assert set(match.json()) == {"is_match", "usage_record_id"}
    for changes in ({"holder_id": fresh_uscc()}, {"licence_type": DRUG}, {"identifier": scene["identifier"][:-1] + ("1" if scene["identifier"][-1] != "1" else "2")}):
        answer = holder_client.post("/api/v1/sharing/check", json={**body, **changes}, headers=auth(scene["a"]["key"]))
        assert answer.status_code == 200 and answer.json()["is_match"] is False
    issuer = holder_client.post("/api/v1/sharing/check", json=body, headers=auth(ecdsa_key))
    assert (issuer.status_code, issuer.json()["code"]) == (403, "forbidden")
    results = [(r.operation, r.result) for r in _records(holder_ctx, scene["holder"])]
    # The issuer's key is refused by the route's role rule (audited as auth.refused) before any lookup.
    assert results == [("check", "match"), ("check", "no_match"), ("check", "no_match")]


def test_departments_export_their_own_usage(
    holder_client: TestClient, holder_ctx: ServiceContext, idp: IdentityProvider, scene: dict[str, Any]
) -> None:
    code = grant(holder_client, idp, holder_ctx, scene["holder"], scene["a"]["code"])["code"]
    _query(holder_client, scene["a"]["key"], query_body(scene["holder"], code))
    _query(holder_client, scene["b"]["key"], query_body(scene["holder"], code))
    mine = holder_client.get("/api/v1/sharing/usage", headers=auth(scene["a"]["key"])).json()
    assert scene["holder"] in {r["holder_id"] for r in mine}
    assert all(r["client_name"] == "window-a" for r in mine)
    csv = holder_client.get("/api/v1/sharing/usage?format=csv", headers=auth(scene["b"]["key"]))
    assert csv.headers["content-type"].startswith("text/csv")
    assert "authorization_other_department" in csv.text
