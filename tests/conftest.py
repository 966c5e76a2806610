"""Shared fixtures: one embedded deployment per test session, built like `certsvc init` builds it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from certsvc.api.app import create_app
from certsvc.config import load_settings
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.principals import Role, create_api_client
from certsvc.services.provisioning import init_embedded

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = PROJECT_ROOT / "templates"
PUBLIC_URL = "https://certsvc.example.gov.cn"


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceContext]:
    """An initialised embedded deployment (SQLite, blobs, keys, development PKI) in a temp home."""
    home = tmp_path_factory.mktemp("certsvc-home")
    ctx = build_context(load_settings(home=home, public_url=PUBLIC_URL))
    init_embedded(ctx)
    yield ctx
    ctx.database.dispose()


@pytest.fixture(scope="session")
def credentials(embedded: ServiceContext) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((embedded.settings.resolved_home / "demo-credentials.json").read_text())
    return data


@pytest.fixture(scope="session")
def ecdsa_key(credentials: dict[str, Any]) -> str:
    return next(d["api_key"] for d in credentials["departments"] if d["algorithm"] == "ecdsa-p256")


@pytest.fixture(scope="session")
def sm2_key(credentials: dict[str, Any]) -> str:
    return next(d["api_key"] for d in credentials["departments"] if d["algorithm"] == "sm2")


@pytest.fixture(scope="session")
def operator_key(embedded: ServiceContext) -> str:
    """An API key with the operator role (administration and batch work, no department)."""
    with embedded.database.transaction() as session:
        return create_api_client(session, name="test-operator", role=Role.OPERATOR, department_id=None).api_key


@pytest.fixture(scope="session")
def client(embedded: ServiceContext) -> Iterator[TestClient]:
    with TestClient(create_app(embedded), raise_server_exceptions=False) as test_client:
        yield test_client


def sample_request(slug: str = "food-business-licence") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((TEMPLATES / slug / "sample.json").read_text(encoding="utf-8"))
    return data


def auth(api_key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"}
