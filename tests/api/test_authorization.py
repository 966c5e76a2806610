"""Every route declares who may call it; each role and no key get the answer the rule says.

A route without a declared rule (``Depends(allow(...))`` or ``Depends(public)``) fails here.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient

from certsvc.api.deps import access_rule
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Role
from tests.conftest import auth, make_department, sample_request

# A syntactically valid identifier nobody issued: in-rule callers get 404/409/422, never 401/403.
_UNKNOWN = "1.2.156.3005.2.11100000000013338W001.11152500011512829G.2026999999.001.X"


def _routes(client: TestClient) -> list[tuple[str, str, APIRoute]]:
    # FastAPI keeps included routers as wrappers in app.routes; iter_route_contexts unfolds them
    # into the routes as mounted (with their effective paths).
    found = []
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        route = context.original_route
        if isinstance(route, APIRoute):
            for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
                found.append((method, context.path, route))
    return found


def test_the_walk_sees_every_documented_route(client: TestClient) -> None:
    """Guards the walk itself: every path of the OpenAPI schema is among the walked routes."""
    walked = {path for _m, path, _r in _routes(client)}
    documented = set(client.get("/openapi.json").json()["paths"])
    assert documented <= walked, documented - walked
    assert len(walked) > 30


def _concrete(path: str) -> str:
    # Ids nobody has: the walk must not revoke, retire or cancel anything the other tests use.
    return re.sub(r"\{[^}]+\}", lambda m: "987654321" if m.group(0).endswith("_id}") else _UNKNOWN, path)


@pytest.fixture(scope="module")
def keys(embedded: ServiceContext, operator_key: str) -> dict[Role, str]:
    from certsvc.services.principals import create_api_client

    _code, issuer, sharing = make_department(embedded)
    with embedded.database.transaction() as session:
        stamping = create_api_client(session, name="authz-tsa", role=Role.TIMESTAMPING, department_id=None).api_key
    return {Role.ISSUER: issuer, Role.OPERATOR: operator_key, Role.SHARING: sharing, Role.TIMESTAMPING: stamping}


def test_every_route_declares_a_rule(client: TestClient) -> None:
    missing = [f"{m} {p}" for m, p, r in _routes(client) if access_rule(r) is None]
    assert not missing, f"routes without Depends(allow(...)) or Depends(public): {missing}"


def test_every_route_answers_each_role_as_declared(client: TestClient, keys: dict[Role, str]) -> None:
    wrong: list[str] = []
    for method, path, route in _routes(client):
        rule = access_rule(route)
        assert rule is not None
        url = _concrete(path)
        body: dict[str, Any] = {}
        anonymous = client.request(method, url, json=body)
        if rule.is_public:
            if anonymous.status_code in (401, 403):
                wrong.append(f"{method} {path}: public but {anonymous.status_code} without a key")
            continue
        if anonymous.status_code != 401:
            wrong.append(f"{method} {path}: {anonymous.status_code} without a key, expected 401")
        bad_key = client.request(method, url, json=body, headers=auth("csk_0000000000000000_forged"))
        if bad_key.status_code != 401:
            wrong.append(f"{method} {path}: {bad_key.status_code} with a wrong key, expected 401")
        for role, key in keys.items():
            status = client.request(method, url, json=body, headers=auth(key)).status_code
            if role in rule.roles and status in (401, 403):
                wrong.append(f"{method} {path}: {role} is allowed but got {status}")
            if role not in rule.roles and status != 403:
                wrong.append(f"{method} {path}: {role} is not allowed but got {status}")
    assert not wrong, "\n".join(wrong)


def test_refusals_are_audited(client: TestClient, embedded: ServiceContext, keys: dict[Role, str]) -> None:
    from sqlalchemy import select

    from certsvc.storage.orm import AuditEvent

    rid = "authz-audit-check"
    client.get("/api/v1/admin/departments", headers={**auth(keys[Role.ISSUER]), "X-Request-ID": rid})
    client.get("/api/v1/admin/departments", headers={"X-Request-ID": rid})
    with embedded.database.read() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.request_id == rid)).all()
    assert {e.outcome for e in events} == {"forbidden", "unauthenticated"}
    assert all(e.action == "auth.refused" and e.target == "GET /api/v1/admin/departments" for e in events)


def test_departments_cannot_touch_each_others_licences(client: TestClient, embedded: ServiceContext) -> None:
    _a, key_a, _ = make_department(embedded)
    _b, key_b, _ = make_department(embedded)
    issued = client.post("/api/v1/certificates", json=sample_request(), headers=auth(key_a))
    assert issued.status_code == 201, issued.text
    ident = issued.json()["identifier"]
    base = f"/api/v1/certificates/{ident}"
    attempts = [
        ("GET", base, None),
        ("GET", f"{base}/pdf", None),
        ("GET", f"{base}/history", None),
        ("POST", f"{base}/suspend", {"reason": "x"}),
        ("POST", f"{base}/revoke", {"reason": "x"}),
        ("POST", f"{base}/cancel", {"reason": "x"}),
        ("POST", f"{base}/amend", {"reason": "x", "holder_name": "别人"}),
        ("POST", f"{base}/reissue", {"reason": "x"}),
    ]
    for method, url, body in attempts:
        foreign = client.request(method, url, json=body, headers=auth(key_b))
        unknown = client.request(method, url.replace(ident, _UNKNOWN), json=body, headers=auth(key_b))
        assert foreign.status_code == 404, (method, url, foreign.text)
        # Byte-for-byte the same answer as for an identifier that does not exist.
        assert foreign.json() == unknown.json()
    assert client.get(base, headers=auth(key_a)).json()["status"] == "valid"


def test_revoked_and_expired_keys_are_refused(client: TestClient, embedded: ServiceContext, operator_key: str) -> None:
    code, _issuer, _ = make_department(embedded)
    created = client.post(
        "/api/v1/admin/clients", json={"name": "short-lived", "role": "issuer", "department_code": code}, headers=auth(operator_key)
    ).json()
    key = created["api_key"]
    assert client.get(f"/api/v1/certificates/{_UNKNOWN}", headers=auth(key)).status_code == 404
    listed = client.get("/api/v1/admin/clients", params={"department": code}, headers=auth(operator_key)).json()
    assert all("api_key" not in c and "key_hash" not in c for c in listed)
    assert client.post(f"/api/v1/admin/clients/{created['id']}/revoke", headers=auth(operator_key)).status_code == 200
    assert client.get(f"/api/v1/certificates/{_UNKNOWN}", headers=auth(key)).status_code == 401
    past = client.post(
        "/api/v1/admin/clients",
        json={"name": "old", "role": "issuer", "department_code": code, "expires_at": "2000-01-01T00:00:00Z"},
        headers=auth(operator_key),
    )
    assert past.status_code == 422
