"""The holder's space and consent over HTTP, signed in through the in-test identity provider."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient

from certsvc.services.context import ServiceContext
from tests.idp import DRUG, FOOD, IdentityProvider, fresh_uscc, grant, holder_auth, issue_for


def test_holder_sees_every_licence_across_departments_with_state(
    holder_client: TestClient, holder_ctx: ServiceContext, idp: IdentityProvider, ecdsa_key: str, sm2_key: str
) -> None:
    holder = fresh_uscc()
    food = issue_for(holder_client, ecdsa_key, holder, template=FOOD)
    drug = issue_for(holder_client, sm2_key, holder, template=DRUG)
    response = holder_client.get("/api/v1/holder/certificates", headers=holder_auth(idp, holder_ctx, holder))
    assert response.status_code == 200, response.text
    rows = {r["identifier"]: r for r in response.json()}
    assert set(rows) == {food, drug}
    assert {r["department_code"] for r in rows.values()} == {
        "11152500011512829G",
        "11152502011513952P",
    }
    assert all(r["status"] == "valid" for r in rows.values())
    # Another holder's space is empty: nothing of this holder leaks into it.
    other = holder_client.get("/api/v1/holder/certificates", headers=holder_auth(idp, holder_ctx, fresh_uscc()))
    assert other.json() == []


def test_grant_list_withdraw(
    holder_client: TestClient, holder_ctx: ServiceContext, idp: IdentityProvider, ecdsa_key: str, receivers: dict[str, Any]
) -> None:
    holder = fresh_uscc()
    issue_for(holder_client, ecdsa_key, holder)
    granted = grant(holder_client, idp, holder_ctx, holder, receivers["a"]["code"], is_single_use=True)
    code = granted["code"]
    assert len(code) == 8 and granted["code_display"] == f"{code[:4]}-{code[4:]}"
    assert granted["state"] == "active" and granted["qr_payload"].endswith(code)
    assert base64.b64decode(granted["qr_png_base64"]).startswith(b"\x89PNG")
    qr = holder_client.get(f"/api/v1/holder/authorizations/{code}/qr", headers=holder_auth(idp, holder_ctx, holder))
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/png"

    listed = holder_client.get("/api/v1/holder/authorizations", headers=holder_auth(idp, holder_ctx, holder)).json()
    assert [a["code"] for a in listed] == [code]
    # Withdrawing accepts the code as read out (lower case, with a hyphen).
    spoken = f"{code[:4]}-{code[4:]}".lower()
    withdrawn = holder_client.post(f"/api/v1/holder/authorizations/{spoken}/withdraw", headers=holder_auth(idp, holder_ctx, holder))
    assert withdrawn.status_code == 200 and withdrawn.json()["state"] == "withdrawn"


def test_grant_rules(
    holder_client: TestClient, holder_ctx: ServiceContext, idp: IdentityProvider, ecdsa_key: str, sm2_key: str, receivers: dict[str, Any]
) -> None:
    holder, stranger = fresh_uscc(), fresh_uscc()
    mine = issue_for(holder_client, ecdsa_key, holder)
    theirs = issue_for(holder_client, ecdsa_key, stranger)
    base = {
        "department_code": receivers["a"]["code"],
        "licence_type": FOOD,
        "application_no": "BJ-1",
        "purpose": "办件",
        "expires_at": (holder_ctx.clock.now() + timedelta(days=31)).isoformat(),
    }

    def post(**changes: Any) -> Any:
        return holder_client.post(
            "/api/v1/holder/authorizations", json={**base, **changes}, headers=holder_auth(idp, holder_ctx, holder)
        )

    assert post().json()["code"] == "authorization_too_long"
    in_time = (holder_ctx.clock.now() + timedelta(days=30)).isoformat()
    assert post(expires_at=in_time).status_code == 201
    assert post(expires_at=in_time, department_code="91320213MA1N2P3Q43").json()["code"] == "unknown_department"
    assert post(expires_at=in_time, licence_type="no-such-type").json()["code"] == "unknown_licence_type"
    assert post(expires_at=in_time, licence_type=None).json()["code"] == "authorization_scope_required"
    # One specific licence: one's own only; another holder's is "no such licence".
    assert post(expires_at=in_time, licence_type=None, certificate_identifier=mine).status_code == 201
    assert post(expires_at=in_time, licence_type=None, certificate_identifier=theirs).status_code == 404


def test_consent_changes_need_a_fresh_token(
    holder_client: TestClient, holder_ctx: ServiceContext, idp: IdentityProvider, receivers: dict[str, Any]
) -> None:
    holder = fresh_uscc()
    headers = holder_auth(idp, holder_ctx, holder)
    body = {
        "department_code": receivers["a"]["code"],
        "licence_type": FOOD,
        "application_no": "BJ-2",
        "purpose": "办件",
        "expires_at": (holder_ctx.clock.now() + timedelta(days=1)).isoformat(),
    }
    assert holder_client.post("/api/v1/holder/authorizations", json=body, headers=headers).status_code == 201
    replay = holder_client.post("/api/v1/holder/authorizations", json=body, headers=headers)
    assert replay.status_code == 401 and replay.json()["code"] == "holder_token_replayed"
    # The replay is visible to the holder in their usage list.
    usage = holder_client.get("/api/v1/holder/usage", headers=headers).json()
    assert [u["result"] for u in usage] == ["holder_token_replayed"]


def test_a_token_for_another_holder_cannot_withdraw(
    holder_client: TestClient, holder_ctx: ServiceContext, idp: IdentityProvider, receivers: dict[str, Any]
) -> None:
    owner, intruder = fresh_uscc(), fresh_uscc()
    code = grant(holder_client, idp, holder_ctx, owner, receivers["a"]["code"])["code"]
    refused = holder_client.post(f"/api/v1/holder/authorizations/{code}/withdraw", headers=holder_auth(idp, holder_ctx, intruder))
    assert refused.status_code == 403 and refused.json()["code"] == "holder_mismatch"
    listed = holder_client.get("/api/v1/holder/authorizations", headers=holder_auth(idp, holder_ctx, owner)).json()
    assert listed[0]["state"] == "active"
    usage = holder_client.get("/api/v1/holder/usage", headers=holder_auth(idp, holder_ctx, owner)).json()
    assert [(u["operation"], u["result"]) for u in usage] == [("withdraw", "holder_mismatch")]
