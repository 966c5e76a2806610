"""``/healthz`` (alive) and ``/readyz`` (database, broker and seal keys reachable; 503 with why)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from certsvc.api.app import create_app
from certsvc.services.context import ServiceContext
from certsvc.storage.database import Database
from certsvc.storage.keystore import FileKeyStore
from certsvc.storage.orm import Seal
from tests.servers import RedisServer, free_port


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _client(ctx: ServiceContext) -> TestClient:
    return TestClient(create_app(ctx), raise_server_exceptions=False)


def _with(embedded: ServiceContext, **settings: object) -> ServiceContext:
    return dataclasses.replace(embedded, settings=embedded.settings.model_copy(update=settings))


def test_the_shared_deployment_is_alive_and_ready(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "seal_keys": "ok"}}


def test_a_reachable_broker_is_checked_and_a_stopped_one_makes_it_not_ready(
    embedded: ServiceContext, redis_server: RedisServer
) -> None:
    with _client(_with(embedded, broker_url=redis_server.url)) as client:
        assert client.get("/readyz").json()["checks"]["broker"] == "ok"
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with _client(_with(embedded, broker_url=dead)) as client:
        response = client.get("/readyz")
        assert client.get("/healthz").status_code == 200  # alive all the same
    assert response.status_code == 503
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "not_ready" and set(body["errors"]) == {"broker"}
    assert "does not answer" in body["errors"]["broker"]


def test_an_unreachable_database_is_not_ready(embedded: ServiceContext, tmp_path: Path) -> None:
    # A database URL whose server is not there (PostgreSQL) or whose file cannot be opened (SQLite).
    if embedded.database.is_sqlite:
        broken = Database(f"sqlite:///{tmp_path / 'missing-dir' / 'x.sqlite3'}")
    else:
        broken = Database(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/nothing?connect_timeout=2")
    with _client(dataclasses.replace(embedded, database=broken)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    errors = response.json()["errors"]
    assert errors["database"].startswith("the database is unreachable")
    assert errors["seal_keys"].startswith("not checked")


def test_a_missing_seal_key_is_not_ready(embedded: ServiceContext, tmp_path: Path) -> None:
    with embedded.database.read() as session:
        active = len(session.scalars(select(Seal.id).where(Seal.status == "active")).all())
    empty_store = FileKeyStore(tmp_path / "no-keys")  # a node that cannot reach the key store
    with _client(dataclasses.replace(embedded, keys=empty_store)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    errors = response.json()["errors"]
    assert set(errors) == {"seal_keys"} and active > 0
    assert errors["seal_keys"].startswith(f"{active} active seal key(s) not reachable, e.g. seal-")
