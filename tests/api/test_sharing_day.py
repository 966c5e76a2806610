"""Usage records are complete: a scripted day at two service windows, then both records agree."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from certsvc.services.audit import verify_chain
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


def test_a_scripted_day_is_in_the_holders_list_and_in_the_audit_chain(
    holder_client: TestClient,
    holder_ctx: ServiceContext,
    idp: IdentityProvider,
    ecdsa_key: str,
    sm2_key: str,
    receivers: dict[str, Any],
    holder_clock: Any,
) -> None:
    a, b = receivers["a"], receivers["b"]
    holder = fresh_uscc()
    food = issue_for(holder_client, ecdsa_key, holder, template=FOOD)
    issue_for(holder_client, sm2_key, holder, template=DRUG)
    repeat = grant(holder_client, idp, holder_ctx, holder, a["code"], application_no="BJ-A-1")["code"]
    once = grant(holder_client, idp, holder_ctx, holder, b["code"], licence_type=DRUG, application_no="BJ-B-7", is_single_use=True)["code"]

    check = {"holder_id_type": "uscc", "holder_id": holder, "identifier": food, "licence_type": FOOD, "application_no": "BJ-B-7",
             "reason": "核验营业执照信息"}
    # (who, route, body, expected status, expected (operation, result))
    day = [
        (a, "query", query_body(holder, repeat, application_no="BJ-A-1"), 200, ("query", "ok")),
        (b, "query", query_body(holder, repeat, application_no="BJ-A-1"), 403, ("query", "authorization_other_department")),
        (b, "query", query_body(holder, once, licence_type=DRUG, application_no="BJ-B-7"), 200, ("query", "ok")),
        (b, "query", query_body(holder, once, licence_type=DRUG, application_no="BJ-B-7"), 403, ("query", "authorization_used")),
        (b, "check", check, 200, ("check", "match")),
        (b, "check", {**check, "licence_type": DRUG}, 200, ("check", "no_match")),
        (a, "query", query_body(holder, "NOPE2345", application_no="BJ-A-1"), 404, ("query", "authorization_unknown")),
        (a, "query", query_body(holder, repeat, licence_type=DRUG, application_no="BJ-A-1"), 403, ("query", "authorization_other_licence_type")),
        (a, "query", query_body(holder, repeat, application_no="BJ-A-1"), 200, ("query", "ok")),
    ]
    expected: list[tuple[str, str]] = []
    departments: list[str] = []
    for who, route, body, status, record in day:
        holder_clock.advance(timedelta(minutes=37))  # through the office day
        response = holder_client.post(f"/api/v1/sharing/{route}", json=body, headers=auth(who["key"]))
        assert response.status_code == status, (route, body, response.text)
        expected.append(record)
        departments.append(who["code"])
        if route == "query" and status == 200:
            for licence in response.json()["licences"]:
                url = licence["download_url"].replace("http://testserver", "")
                assert holder_client.get(url, headers=auth(who["key"])).status_code == 200
                expected.append(("download", "ok"))
                departments.append(who["code"])

    usage = holder_client.get("/api/v1/holder/usage", headers=holder_auth(idp, holder_ctx, holder)).json()
    assert [(u["operation"], u["result"]) for u in usage] == expected
    assert [u["department_code"] for u in usage] == departments
    assert all(u["reason"] and u["application_no"] for u in usage)

    with holder_ctx.database.read() as session:
        ids = [u["id"] for u in usage]
        records = {r.id: r for r in session.query(UsageRecord).filter(UsageRecord.id.in_(ids))}
        for u in usage:
            event = session.get(AuditEvent, u["audit_event_id"])
            assert event is not None, u
            assert event.action == f"sharing.{u['operation']}"
            assert event.details["usage_record_id"] == u["id"] and event.details["result"] == u["result"]
            assert event.outcome == ("ok" if u["result"] in ("ok", "match", "no_match") else "refused")
            assert event.actor_client_id == records[u["id"]].client_id
            assert holder not in str(event.details) and holder not in event.target  # the chain holds masked ids only
        report = verify_chain(session, trusted_public_key_der=None)
    assert report.is_intact, report.problem
