"""GET /api/v1/seals/coverage (table) and /coverage.png (chart), operators only."""

from __future__ import annotations

from fastapi.testclient import TestClient

from certsvc.services.demo_departments import DEMO_DEPARTMENTS
from tests.conftest import auth


def test_coverage_table_and_chart_for_operators(client: TestClient, operator_key: str, ecdsa_key: str) -> None:
    response = client.get("/api/v1/seals/coverage", params={"expiring_days": 3650}, headers=auth(operator_key))
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["departments"] == data["with_valid_seal"] + data["without_valid_seal"]
    assert sum(r["departments"] for r in data["rows"]) == data["departments"]
    demo_codes = {d.code for d in DEMO_DEPARTMENTS}
    assert demo_codes <= {e["department_code"] for e in data["expiring"]}  # five-year demo seals, ten-year window
    assert not demo_codes & {u["code"] for u in data["uncovered"]}
    chart = client.get("/api/v1/seals/coverage.png", headers=auth(operator_key))
    assert chart.status_code == 200 and chart.headers["content-type"] == "image/png"
    assert chart.content.startswith(b"\x89PNG")


def test_coverage_refuses_other_roles_and_bad_input(client: TestClient, operator_key: str, ecdsa_key: str) -> None:
    assert client.get("/api/v1/seals/coverage").status_code == 401
    assert client.get("/api/v1/seals/coverage", headers=auth(ecdsa_key)).status_code == 403
    bad = client.get("/api/v1/seals/coverage", params={"expiring_days": -1}, headers=auth(operator_key))
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
