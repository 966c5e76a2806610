"""The matter register over HTTP: edit, import, history, and the window's materials question."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient

from certsvc.services.context import ServiceContext
from tests.conftest import auth
from tests.idp import IdentityProvider, fresh_uscc, grant, issue_for, query_body

FOOD = "food-business-licence"


def _code() -> str:
    return f"T-{uuid.uuid4().hex[:12]}"


def _put(client: TestClient, key: str, code: str, **extra: Any) -> Any:
    body = {
        "name": "食品经营许可证变更（测试）",
        "materials": [
            {"name": "原食品经营许可证", "licence_types": [FOOD]},
            {"name": "变更申请书", "licence_types": []},
        ],
        **extra,
    }
    return client.put(f"/api/v1/matters/{code}", json=body, headers=auth(key))


def test_operator_edits_a_matter_and_every_version_is_in_the_audit_log(
    holder_client: TestClient, operator_key: str
) -> None:
    code = _code()
    first = _put(holder_client, operator_key, code)
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    assert (
        _put(holder_client, operator_key, code).json()["version"] == 1
    )  # the same content is no new version
    second = _put(
        holder_client,
        operator_key,
        code,
        materials=[
            {
                "name": "原食品经营许可证",
                "licence_types": ["11100000MB0143028R001", "准予行政许可决定书"],
            }
        ],
    )
    assert second.json()["version"] == 2
    assert second.json()["materials"] == [
        {"name": "原食品经营许可证", "licence_types": [FOOD, "administrative-licensing-decision"]}
    ]
    history = holder_client.get(
        f"/api/v1/matters/{code}/history", headers=auth(operator_key)
    ).json()
    assert [(v["version"], v["action"], len(v["materials"])) for v in history] == [
        (1, "matter.put", 2),
        (2, "matter.put", 1),
    ]
    assert (
        holder_client.delete(f"/api/v1/matters/{code}", headers=auth(operator_key)).status_code
        == 204
    )
    assert (
        holder_client.get(f"/api/v1/matters/{code}", headers=auth(operator_key)).status_code == 404
    )
    after = holder_client.get(f"/api/v1/matters/{code}/history", headers=auth(operator_key)).json()
    assert [v["action"] for v in after] == ["matter.put", "matter.put", "matter.delete"]


def test_bad_matter_input_is_problem_json(
    holder_client: TestClient, operator_key: str, ecdsa_key: str
) -> None:
    bad = _put(
        holder_client,
        operator_key,
        _code(),
        materials=[{"name": "x", "licence_types": ["no-such-licence"]}],
    )
    assert bad.status_code == 422 and bad.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert bad.json()["errors"][0]["field"] == "materials[0].licence_types"
    assert (
        _put(holder_client, ecdsa_key, _code()).status_code == 403
    )  # issuers read, operators edit
    bad_code = _put(holder_client, operator_key, "bad code!")
    assert bad_code.status_code == 422 and bad_code.json()["errors"][0]["field"] == "code"


def test_import_is_a_dry_run_until_executed_and_names_bad_rows(
    holder_client: TestClient, operator_key: str
) -> None:
    code = _code()
    csv_text = f"事项编码,事项名称,材料名称,可替代证照\n{code},药品经营许可证变更（测试）,药品经营许可证正本、副本,drug-business-licence\n"
    headers = {**auth(operator_key), "content-type": "text/csv"}
    dry = holder_client.post("/api/v1/matters/import", content=csv_text.encode(), headers=headers)
    assert dry.status_code == 200, dry.text
    assert (dry.json()["added"], dry.json()["is_applied"]) == ([code], False)
    assert (
        holder_client.get(f"/api/v1/matters/{code}", headers=auth(operator_key)).status_code == 404
    )
    done = holder_client.post(
        "/api/v1/matters/import?execute=true", content=csv_text.encode(), headers=headers
    )
    assert done.json()["is_applied"] is True
    assert holder_client.get(f"/api/v1/matters/{code}", headers=auth(operator_key)).json()[
        "materials"
    ][0]["licence_types"] == ["drug-business-licence"]

    broken = (
        "事项编码,事项名称,材料名称,可替代证照\n"
        f"{code},名称,材料一,drug-business-licence\n"
        f"{code},另一个名称,材料二,营业执照\n"
    )
    refused = holder_client.post("/api/v1/matters/import", content=broken.encode(), headers=headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    errors = refused.json()["errors"]
    assert {(e["row"], e["column"]) for e in errors} == {(3, "事项名称"), (3, "可替代证照")}
    missing = holder_client.post("/api/v1/matters/import", content=b"a,b\n1,2\n", headers=headers)
    assert missing.status_code == 422 and all(e["row"] == 1 for e in missing.json()["errors"])
    wrong_type = holder_client.post(
        "/api/v1/matters/import",
        content=b"x",
        headers={**auth(operator_key), "content-type": "text/plain"},
    )
    assert wrong_type.status_code == 400 and wrong_type.json()["code"] == "unsupported_file_type"


def test_the_window_sees_waivable_materials_and_the_holders_licence_only_with_consent(
    holder_client: TestClient,
    holder_ctx: ServiceContext,
    idp: IdentityProvider,
    ecdsa_key: str,
    operator_key: str,
    receivers: dict[str, Any],
) -> None:
    code = _code()
    assert _put(holder_client, operator_key, code).status_code == 200
    holder = fresh_uscc()
    identifier = issue_for(holder_client, ecdsa_key, holder)
    window = auth(receivers["a"]["key"])
    url = f"/api/v1/matters/{code}/materials"

    before = holder_client.get(url, params={"holder_id": holder}, headers=window).json()
    waivable = {m["name"]: m for m in before["materials"]}
    assert waivable["原食品经营许可证"]["is_waivable"] is True
    assert [t["template"] for t in waivable["原食品经营许可证"]["licence_types"]] == [FOOD]
    assert waivable["变更申请书"]["is_waivable"] is False
    # No consent yet: nothing about the holder's licences, not even that one exists.
    assert waivable["原食品经营许可证"]["is_authorized"] is False
    assert waivable["原食品经营许可证"]["holder_licences"] == []

    auth_code = grant(
        holder_client, idp, holder_ctx, holder, receivers["a"]["code"], application_no="MAT-1"
    )["code"]
    after = {
        m["name"]: m
        for m in holder_client.get(url, params={"holder_id": holder}, headers=window).json()[
            "materials"
        ]
    }
    used = after["原食品经营许可证"]
    assert used["is_authorized"] is True and used["would_be_waived"] is True
    assert [(h["identifier"], h["authorization_code"]) for h in used["holder_licences"]] == [
        (identifier, auth_code)
    ]
    assert after["变更申请书"]["holder_licences"] == []
    other_application = holder_client.get(
        url, params={"holder_id": holder, "application_no": "MAT-2"}, headers=window
    ).json()
    assert other_application["materials"][0]["holder_licences"] == []
    # Another department learns nothing from the holder's consent to department a.
    elsewhere = holder_client.get(
        url, params={"holder_id": holder}, headers=auth(receivers["b"]["key"])
    ).json()
    assert elsewhere["materials"][0]["holder_licences"] == []

    # The look is recorded (用证留痕), as every disclosure of a holder's licence is.
    uses = holder_client.get("/api/v1/sharing/usage", headers=window).json()
    assert any(
        u["operation"] == "materials" and u["certificate_identifier"] == identifier for u in uses
    )

    # A query naming the matter counts as a waived material in the programme figures.
    before_stats = _matter_figures(holder_client, operator_key, code)
    body = {**query_body(holder, auth_code, application_no="MAT-1"), "matter_code": code}
    assert holder_client.post("/api/v1/sharing/query", json=body, headers=window).status_code == 200
    after_stats = _matter_figures(holder_client, operator_key, code)
    assert (before_stats["waivable"], before_stats["waived"]) == (1, 0)
    assert after_stats["waived"] == 1
    assert [m["waived"] for m in after_stats["per_material"]] == [1, 0]


def _matter_figures(client: TestClient, operator_key: str, code: str) -> dict[str, Any]:
    stats = client.get("/api/v1/stats", headers=auth(operator_key)).json()
    figures: dict[str, Any] = next(m for m in stats["matters"] if m["code"] == code)
    return figures


def test_materials_need_the_sharing_role_and_a_known_matter(
    holder_client: TestClient, operator_key: str, receivers: dict[str, Any]
) -> None:
    code = _code()
    _put(holder_client, operator_key, code)
    assert (
        holder_client.get(
            f"/api/v1/matters/{code}/materials", headers=auth(operator_key)
        ).status_code
        == 403
    )
    missing = holder_client.get(
        "/api/v1/matters/NO-SUCH/materials", headers=auth(receivers["a"]["key"])
    )
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_matter"
    bad_holder = holder_client.get(
        f"/api/v1/matters/{code}/materials",
        params={"holder_id": "91320213MA0000000X"},
        headers=auth(receivers["a"]["key"]),
    )
    assert bad_holder.status_code == 422 and bad_holder.json()["code"] == "invalid_holder_id"


def test_the_register_pages_with_the_shared_cursor(
    holder_client: TestClient, operator_key: str, receivers: dict[str, Any]
) -> None:
    codes = [_code() for _ in range(3)]
    for code in codes:
        _put(holder_client, operator_key, code)
    seen: list[str] = []
    url: str | None = "/api/v1/matters?limit=2"
    while url is not None:
        page = holder_client.get(url, headers=auth(receivers["a"]["key"]))
        assert page.status_code == 200, page.text
        assert isinstance(page.json(), list) and len(page.json()) <= 2
        seen.extend(m["code"] for m in page.json())
        cursor = page.headers.get("X-Next-Cursor")
        assert (cursor is None) == ("Link" not in page.headers)
        url = f"/api/v1/matters?limit=2&cursor={cursor}" if cursor else None
    assert len(seen) == len(set(seen))  # no matter twice
    assert [c for c in seen if c in codes] == codes  # registration order, every one
    bad = holder_client.get(
        "/api/v1/matters?cursor=not-a-cursor", headers=auth(receivers["a"]["key"])
    )
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_cursor"
