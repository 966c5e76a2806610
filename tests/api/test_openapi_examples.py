"""Every example in the OpenAPI document is a request that succeeds as written.

An integrator copies the example from /docs; it must work (with their own key and a licence
of theirs in the path). A new example on a route this test cannot prepare fails it loudly.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from certsvc.services.context import ServiceContext
from tests.conftest import auth, make_department, sample_request

_JSON = "application/json"


def _schema_examples(schema: dict[str, Any], components: dict[str, Any]) -> list[Any]:
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return list(schema.get("examples", [])) + ([schema["example"]] if "example" in schema else [])


def _documented_examples(document: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(method, path, body) for every example of every JSON request body."""
    components = document["components"]["schemas"]
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {}).get(_JSON)
            if content is None:
                continue
            bodies = [content["example"]] if "example" in content else []
            bodies += [e["value"] for e in content.get("examples", {}).values()]
            bodies += _schema_examples(content.get("schema", {}), components)
            # The same example may be both the operation's and its schema's: sent once (an issue
            # example's licence number can be issued only once per department).
            for body in bodies:
                if (method.upper(), path, body) not in found:
                    found.append((method.upper(), path, body))
    return found


@pytest.fixture(scope="module")
def issuer(embedded: ServiceContext) -> str:
    return make_department(embedded)[1]


def _fresh_licence(client: TestClient, key: str) -> str:
    response = client.post("/api/v1/certificates", json=sample_request(), headers=auth(key))
    assert response.status_code == 201, response.text
    identifier: str = response.json()["identifier"]
    return identifier


# What a licence must have been through before the example applies to it.
_BEFORE = {"/resume": "suspend"}


def test_every_documented_example_succeeds_as_written(client: TestClient, issuer: str) -> None:
    examples = _documented_examples(client.get("/openapi.json").json())
    sent = set()
    for method, path, body in examples:
        if "{identifier}" in path:
            identifier = _fresh_licence(client, issuer)
            before = next((action for suffix, action in _BEFORE.items() if path.endswith(suffix)), None)
            if before:
                assert client.post(f"/api/v1/certificates/{identifier}/{before}", json={"reason": "准备"}, headers=auth(issuer)).status_code == 200
            url = path.replace("{identifier}", identifier)
        else:
            assert "{" not in path, f"{method} {path}: this test does not know how to fill the path of its example"
            url = path
        response = client.request(method, url, json=body, headers=auth(issuer))
        assert 200 <= response.status_code < 300, f"{method} {path} example: {response.status_code} {response.text}"
        sent.add(f"{method} {path}")
    # The examples an integrator meets first are among them.
    assert {"POST /api/v1/certificates", "POST /api/v1/certificates/{identifier}/amend", "POST /api/v1/certificates/{identifier}/suspend"} <= sent


def test_the_document_declares_bearer_auth_on_every_route_that_needs_a_key(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    scheme = document["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    operations = {(m.upper(), p): op for p, item in document["paths"].items() for m, op in item.items()}
    assert operations[("POST", "/api/v1/certificates")]["security"] == [{"bearerAuth": []}]
    assert operations[("GET", "/api/v1/admin/departments")]["security"] == [{"bearerAuth": []}]
    assert "security" not in operations[("POST", "/api/v1/verify")]  # public: no key, no lock icon
    for (method, path), operation in operations.items():
        keyed = "security" in operation
        assert keyed == ("401" in operation["responses"]), f"{method} {path}"
        for status, answer in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert "application/problem+json" in answer.get("content", {}), f"{method} {path} {status}"
