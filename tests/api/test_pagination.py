"""Every list is paginated the same way: `limit`, an opaque `cursor`, `Link`/`X-Next-Cursor`.

Walking a list one item at a time by its cursors gives exactly the items of one big page, in
the same order, none twice.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from certsvc.domain.paging import (
    MAX_PAGE_SIZE,
    PageRequest,
    decode_cursor,
    encode_cursor,
    every_item,
)
from certsvc.services.context import ServiceContext
from certsvc.services.principals import local_operator
from certsvc.services.seal_admin import SealAdminService
from certsvc.services.webhook_admin import WebhookAdminService
from certsvc.storage.orm_batch import BatchJob
from certsvc.storage.repositories_batch import BatchRepository
from tests.conftest import auth, make_department
from tests.idp import IdentityProvider, fresh_uscc, holder_auth


def _walk(client: TestClient, url: str, headers: dict[str, str], **params: Any) -> list[Any]:
    """The list read one item per page, following X-Next-Cursor (and checking Link says the same)."""
    items: list[Any] = []
    cursor: str | None = None
    while True:
        response = client.get(url, params={**params, "limit": 1, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert response.status_code == 200, response.text
        assert len(response.json()) <= 1
        items += response.json()
        cursor = response.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in response.headers
            return items
        assert f"cursor={cursor}" in response.headers["Link"]
        assert len(items) < 1000, "the cursor does not advance"


def _check_walk(client: TestClient, url: str, headers: dict[str, str], *, at_least: int, **params: Any) -> list[Any]:
    whole = client.get(url, params={**params, "limit": MAX_PAGE_SIZE}, headers=headers)
    assert whole.status_code == 200, whole.text
    walked = _walk(client, url, headers, **params)
    assert walked == whole.json()
    assert len(walked) >= at_least
    return walked


@pytest.fixture(scope="module")
def department(embedded: ServiceContext) -> str:
    code, _issuer, _sharing = make_department(embedded)
    operator = local_operator()
    SealAdminService(embedded).add_seal(code, name="公章", algorithm="ecdsa-p256", validity_days=365, principal=operator)
    webhooks = WebhookAdminService(embedded)
    webhooks.add_webhook(code, url="http://127.0.0.1:9/a", principal=operator)
    webhooks.add_webhook(code, url="http://127.0.0.1:9/b", principal=operator)
    return code


def test_operator_lists_walk_page_by_page(client: TestClient, operator_key: str, department: str) -> None:
    key = auth(operator_key)
    seals = _check_walk(client, f"/api/v1/admin/departments/{department}/seals", key, at_least=2)
    assert [s["id"] for s in seals] == sorted(s["id"] for s in seals)
    clients = _check_walk(client, "/api/v1/admin/clients", key, at_least=2, department=department)
    assert {c["department_code"] for c in clients} == {department}
    hooks = _check_walk(client, f"/api/v1/admin/departments/{department}/webhooks", key, at_least=2)
    assert [h["url"] for h in hooks] == ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]
    events = _walk(client, "/api/v1/admin/audit/events", key, **{"from": "2020-01-01T00:00:00Z"})
    assert [e["id"] for e in events] == sorted({e["id"] for e in events})  # oldest first, none twice


def test_batch_jobs_walk_newest_first(client: TestClient, embedded: ServiceContext, operator_key: str) -> None:
    now = embedded.clock.now()
    with embedded.database.transaction() as session:
        for n in range(2):
            BatchRepository(session).add_job(
                BatchJob(kind="import", state="completed", params={}, fingerprint=f"pagination-{n}-{now.timestamp()}", created_by="test", created_at=now, total=0)
            )
    jobs = _check_walk(client, "/api/v1/batches", auth(operator_key), at_least=2)
    assert [j["id"] for j in jobs] == sorted((j["id"] for j in jobs), reverse=True)


def test_holder_usage_walks_page_by_page(holder_client: TestClient, holder_ctx: ServiceContext, idp: IdentityProvider) -> None:
    holder = fresh_uscc()
    # Two refused withdrawals of an authorization nobody granted: each is a usage record.
    for _ in range(2):
        holder_client.post("/api/v1/holder/authorizations/NO-SUCH-CODE/withdraw", headers=holder_auth(idp, holder_ctx, holder))
    usage = _walk(holder_client, "/api/v1/holder/usage", holder_auth(idp, holder_ctx, holder))
    whole = holder_client.get("/api/v1/holder/usage", headers=holder_auth(idp, holder_ctx, holder)).json()
    assert usage == whole


def test_cursor_round_trip_and_every_item() -> None:
    assert decode_cursor(encode_cursor(123)) == 123
    pages = {None: ([3, 2], 2), 2: ([1], None)}

    def fetch(request: PageRequest) -> Any:
        from certsvc.domain.paging import Page

        items, last = pages[request.after_id]
        return Page(tuple(items), encode_cursor(last) if last else None)

    assert list(every_item(fetch, page_size=2)) == [3, 2, 1]


def test_the_document_shows_how_each_list_pages(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    lists = [
        "/api/v1/certificates",
        "/api/v1/admin/departments/{code}/seals",
        "/api/v1/admin/clients",
        "/api/v1/admin/audit/events",
        "/api/v1/batches",
        "/api/v1/holder/usage",
        "/api/v1/admin/departments/{code}/webhooks",
        "/api/v1/admin/webhooks/{webhook_id}/deliveries",
    ]
    for path in lists:
        operation = paths[path]["get"]
        assert {"X-Next-Cursor", "Link"} <= set(operation["responses"]["200"]["headers"]), path
        assert {"limit", "cursor"} <= {p["name"] for p in operation["parameters"]}, path
