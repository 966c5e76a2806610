"""Privacy: no route returns a holder's data without a valid authorization in scope (walk the routes)."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from certsvc.services.context import ServiceContext
from tests.conftest import auth
from tests.idp import IdentityProvider, fresh_uscc, grant, holder_auth, issue_for, query_body

_HOLDER_NAME = "无锡市隐私测试持证企业有限公司"


def _bodies(holder: str, identifier: str, code: str, department_code: str) -> list[dict[str, Any]]:
    """Everything a caller might send: the holder's id, the licence, a real code, wrong scopes."""
    query = query_body(holder, code)
    return [
        {},
        query,
        {**query, "authorization_code": "AAAAAAAA"},
        {**query, "licence_type": "drug-business-licence"},
        {**query, "application_no": "OTHER"},
        {"holder_id_type": "uscc", "holder_id": holder, "identifier": identifier, "licence_type": "food-business-licence",
         "application_no": "X", "reason": "y"},
        {"department_code": department_code, "licence_type": "food-business-licence", "application_no": "X", "purpose": "y",
         "expires_at": "2099-01-01T00:00:00Z"},
    ]


def test_walk_every_route_without_an_authorization_in_scope(
    holder_client: TestClient,
    holder_ctx: ServiceContext,
    idp: IdentityProvider,
    ecdsa_key: str,
    operator_key: str,
    receivers: dict[str, Any],
) -> None:
    holder = fresh_uscc()
    identifier = issue_for(holder_client, ecdsa_key, holder, name=_HOLDER_NAME)
    # An authorization exists, but for department A only: B has none in scope.
    code = grant(holder_client, idp, holder_ctx, holder, receivers["a"]["code"])["code"]
    callers = {
        "anonymous": {},
        "receiving department B (no authorization)": auth(receivers["b"]["key"]),
        "another holder": holder_auth(idp, holder_ctx, fresh_uscc()),
        "forged holder token": {"Authorization": f"Bearer {IdentityProvider().token(holder, now=holder_ctx.clock.now())}"},
    }
    secrets_of_holder = (holder, _HOLDER_NAME, identifier)
    leaks: list[str] = []
    walked = 0
    # The OpenAPI document lists every mounted route (FastAPI's route objects nest by router).
    paths: dict[str, dict[str, Any]] = holder_client.app.openapi()["paths"]  # type: ignore[attr-defined]
    mine = {p: ops for p, ops in paths.items() if p.startswith(("/api/v1/holder", "/api/v1/sharing", "/api/v1/stats"))}
    assert {"/api/v1/sharing/query", "/api/v1/sharing/check", "/api/v1/holder/certificates"} <= set(mine)
    for route_path, operations in mine.items():
        for method in sorted(m.upper() for m in operations):
            path = re.sub(r"\{[^}]+\}", code if "{code}" in route_path else "x" * 20, route_path)
            for who, headers in callers.items():
                for body in _bodies(holder, identifier, code, receivers["b"]["code"]):
                    if who == "another holder":
                        headers = holder_auth(idp, holder_ctx, fresh_uscc())  # fresh jti: consent routes spend it
                    response = holder_client.request(method, path, json=body or None, headers=headers)
                    walked += 1
                    if any(s in response.text for s in secrets_of_holder):
                        leaks.append(f"{who}: {method} {path} {body} -> {response.status_code}")
    assert walked > 100
    assert not leaks, "\n".join(leaks)
    # Control: in scope, the data does come back (so the walk above would have seen a leak).
    ok = holder_client.post("/api/v1/sharing/query", json=query_body(holder, code), headers=auth(receivers["a"]["key"]))
    assert ok.status_code == 200 and holder in ok.text


def test_the_holders_own_space_shows_only_their_own(
    holder_client: TestClient, holder_ctx: ServiceContext, idp: IdentityProvider, ecdsa_key: str
) -> None:
    mine, theirs = fresh_uscc(), fresh_uscc()
    issue_for(holder_client, ecdsa_key, theirs)
    for path in ("/api/v1/holder/certificates", "/api/v1/holder/usage", "/api/v1/holder/authorizations"):
        response = holder_client.get(path, headers=holder_auth(idp, holder_ctx, mine))
        assert response.status_code == 200 and theirs not in response.text
