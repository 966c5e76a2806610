"""Reads never take SQLite's write lock: while another connection holds it, they still answer.

Without this, every public request (a clerk scanning a QR code, the trust list an offline app
downloads, a load balancer's /healthz) and every authenticated read would queue behind the one
writer — a batch re-signing holds the lock a thousand times a minute.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import make_url

from certsvc.services.audit import AuditService
from certsvc.services.context import ServiceContext
from tests.api.test_qr import scanned  # noqa: F401  (module fixture reused)
from tests.conftest import auth

# A read that queued for the lock would wait for the busy timeout (30 s) and then fail.
_ANSWER_WITHIN_SECONDS = 10.0


@pytest.fixture
def write_lock_held(embedded: ServiceContext) -> Iterator[None]:
    """Another connection (not certsvc's) holds the write lock until the test ends."""
    if not embedded.database.is_sqlite:
        pytest.skip("the database-wide write lock is SQLite's; PostgreSQL readers never wait for writers")
    path = make_url(embedded.settings.sqlalchemy_url).database
    assert path
    # An audit checkpoint falling due would be a write of its own; sign the head first.
    AuditService(embedded).checkpoint()
    holder = sqlite3.connect(path, isolation_level=None, timeout=0)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("CREATE TABLE IF NOT EXISTS _lock_probe (x)")  # a write: the lock is really ours
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_public_and_registry_reads_answer_while_the_write_lock_is_held(
    client: TestClient,
    embedded: ServiceContext,
    scanned: dict[str, Any],  # noqa: F811
    operator_key: str,
    write_lock_held: None,
) -> None:
    identifier, pdf, text = scanned["identifier"], scanned["pdf"], scanned["text"]
    operator = auth(operator_key)
    calls: dict[str, Callable[[], httpx.Response]] = {
        "verify": lambda: client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"}),
        "qr verify": lambda: client.post("/api/v1/verify/qr", json={"text": text}),
        "public page": lambda: client.get(f"/v/{identifier}"),
        "trust list": lambda: client.get("/api/v1/trust/keys"),
        "healthz": lambda: client.get("/healthz"),
        "registry: departments": lambda: client.get("/api/v1/admin/departments", headers=operator),
        "registry: stats": lambda: client.get("/api/v1/stats", headers=operator),
    }
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = {name: pool.submit(call) for name, call in calls.items()}
        answers = {name: future.result(timeout=_ANSWER_WITHIN_SECONDS) for name, future in futures.items()}
    for name, response in answers.items():
        assert response.status_code == 200, (name, response.text[:300])
    assert answers["verify"].json()["verdict"] == "valid"
    assert answers["qr verify"].json()["verdict"] == "valid"
    assert identifier in answers["public page"].text
    assert any(d["code"] for d in answers["registry: departments"].json())
