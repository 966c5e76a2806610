"""The programme figures: GET /api/v1/stats (operators) and `certsvc stats [--json] [--plot DIR]`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from certsvc.services.context import ServiceContext
from certsvc_cli.main import app as cli
from tests.conftest import auth
from tests.idp import IdentityProvider, fresh_uscc, grant, issue_for, query_body


def test_stats_count_licences_uses_and_reach(
    holder_client: TestClient,
    holder_ctx: ServiceContext,
    idp: IdentityProvider,
    ecdsa_key: str,
    operator_key: str,
    receivers: dict[str, Any],
) -> None:
    before = holder_client.get("/api/v1/stats", headers=auth(operator_key)).json()
    holder = fresh_uscc()
    issue_for(holder_client, ecdsa_key, holder)
    issue_for(holder_client, ecdsa_key, fresh_uscc())  # valid, never used
    code = grant(holder_client, idp, holder_ctx, holder, receivers["a"]["code"], application_no="STATS-1")["code"]
    body = query_body(holder, code, application_no="STATS-1")
    assert holder_client.post("/api/v1/sharing/query", json=body, headers=auth(receivers["a"]["key"])).status_code == 200
    assert holder_client.post("/api/v1/sharing/query", json=body, headers=auth(receivers["a"]["key"])).status_code == 200
    after = holder_client.get("/api/v1/stats", headers=auth(operator_key)).json()

    assert after["materials_waived"] - before["materials_waived"] == 2
    assert after["applications_served"] - before["applications_served"] == 1  # two uses, one application
    assert after["valid_licences"] - before["valid_licences"] == 2
    assert after["valid_licences_used"] - before["valid_licences_used"] == 1
    assert 0 < after["share_valid_licences_used"] <= 1
    food = [c for c in after["licences"] if c["template"] == "food-business-licence" and c["status"] == "valid"]
    assert sum(c["count"] for c in food) >= 2 and all(c["department_code"] for c in food)


def test_stats_need_the_operator_role(holder_client: TestClient, ecdsa_key: str, receivers: dict[str, Any]) -> None:
    assert holder_client.get("/api/v1/stats").status_code == 401
    assert holder_client.get("/api/v1/stats", headers=auth(ecdsa_key)).status_code == 403
    assert holder_client.get("/api/v1/stats", headers=auth(receivers["a"]["key"])).status_code == 403


@pytest.mark.slow
def test_cli_prints_json_and_plots_png_charts(embedded: ServiceContext, tmp_path: Path) -> None:
    env = {"CERTSVC_HOME": str(embedded.settings.resolved_home)}
    result = CliRunner().invoke(cli, ["stats", "--json", "--plot", str(tmp_path)], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert {"licences", "materials_waived", "valid_licences_used", "applications_served", "charts"} <= set(data)
    charts = sorted(tmp_path.glob("*.png"))
    assert [p.name for p in charts] == [
        "licences-by-department.png",
        "licences-by-type.png",
        "uses-by-department.png",
        "valid-licences-used.png",
    ]
    assert all(p.read_bytes().startswith(b"\x89PNG") and p.stat().st_size > 5000 for p in charts)
    text = CliRunner().invoke(cli, ["stats"], env=env, catch_exceptions=False)
    assert text.exit_code == 0 and "materials waived" in text.output
