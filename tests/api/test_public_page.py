"""The public page /v/{identifier}: status, validity and the masked holder; the holder's id only
with a signed payload; for a suspended or revoked licence the date, the reason's category and
what to do next; an unknown identifier warns of forgery."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from certsvc.api.app import create_app
from certsvc.domain.identifiers import public_holder_name
from certsvc.services.context import ServiceContext
from certsvc.services.qr import parse_qr_text
from certsvc.storage.orm import Certificate
from tests.api.test_qr import scanned  # noqa: F401  (module fixture reused)
from tests.conftest import auth, sample_request


def _path(text: str) -> str:
    identifier, payload = parse_qr_text(text)
    return f"/V/{identifier}/{payload}"


def _dd(page: str, element_id: str) -> str:
    return page.split(f'id="{element_id}">')[1].split("</dd>")[0]


def test_bare_identifier_shows_status_validity_and_masked_holder(client: TestClient, scanned: dict[str, Any]) -> None:  # noqa: F811
    page = client.get(f"/v/{scanned['identifier']}")
    assert page.status_code == 200
    assert 'data-status="valid" id="verdict">有效' in page.text and "食品经营许可证" in page.text
    holder = _dd(page.text, "holder")
    assert "**" in holder and "草原味道" not in page.text
    assert "9115" not in holder  # the holder's id (even masked) needs the signed QR payload
    assert " 至 " in _dd(page.text, "validity")
    assert 'id="status-change"' not in page.text and "请核对" in page.text
    assert page.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("张三", "张*"),
        ("张小三", "张*三"),
        ("锡林浩特市草原味道餐饮有限公司", "锡林**有限公司"),
        ("阿巴嘎旗牧民专业合作社", "阿巴**专业合作社"),
        ("二连浩特市口岸大药房连锁", "二连**连锁"),
    ],
)
def test_public_holder_name_masks_people_and_shortens_organisations(name: str, shown: str) -> None:
    assert public_holder_name(name) == shown


def test_qr_url_shows_masked_details(client: TestClient, scanned: dict[str, Any]) -> None:  # noqa: F811
    page = client.get(_path(scanned["text"]))
    assert page.status_code == 200
    assert 'id="verdict">有效' in page.text
    holder = page.text.split('id="holder">')[1].split("</dd>")[0]
    assert "锡林" in holder and "*" in holder and "草原味道" not in holder
    assert "9115" in holder and "P3Q4C" not in holder
    assert 'id="validity"' in page.text


def test_tampered_payload_shows_status_and_a_warning_only(client: TestClient, scanned: dict[str, Any]) -> None:  # noqa: F811
    path = _path(scanned["text"])
    tampered = path[:-2] + ("11" if not path.endswith("11") else "22")
    page = client.get(tampered)
    assert page.status_code == 200
    assert 'id="qr-warning"' in page.text and "9115" not in _dd(page.text, "holder")


def test_unknown_identifier_is_404_and_warns_of_forgery(client: TestClient) -> None:
    page = client.get("/v/1.2.156.3005.2.NOPE")
    assert page.status_code == 404 and "未找到" in page.text
    warning = page.text.split('id="not-found">')[1].split("</div>")[0]
    assert "伪造" in warning and "发证机关" in warning and "12345" in warning


@pytest.mark.parametrize(
    ("action", "category", "label", "category_zh", "advice"),
    [
        ("suspend", "violation", "已暂扣", "违法违规，依法处理", "恢复条件"),
        ("revoke", "conditions-not-met", "已撤销", "不再符合许可条件", "重新申请"),
        ("cancel", "holder-request", "已注销", "持证主体申请", "注销"),
    ],
)
def test_changed_licence_shows_date_category_and_next_steps(
    client: TestClient, embedded: ServiceContext, ecdsa_key: str,
    action: str, category: str, label: str, category_zh: str, advice: str,
) -> None:
    issued = client.post("/api/v1/certificates", json=sample_request(), headers=auth(ecdsa_key)).json()
    ident = issued["identifier"]
    changed = client.post(
        f"/api/v1/certificates/{ident}/{action}",
        json={"reason": "锡市监罚〔2026〕17号", "category": category},
        headers=auth(ecdsa_key),
    )
    assert changed.status_code == 200, changed.text
    page = client.get(f"/v/{ident}").text
    assert f'data-status="{changed.json()["status"]}" id="verdict">{label}' in page
    beijing = timezone(timedelta(hours=8))  # the page gives the Beijing date, like the licences
    assert _dd(page, "changed-on") == datetime.fromisoformat(changed.json()["changed_at"]).astimezone(beijing).date().isoformat()
    assert _dd(page, "reason-category") == category_zh
    assert advice in page.split('id="next-steps">')[1].split("</p>")[0]
    assert "锡市监罚" not in page  # the reason's text stays with the department
    history = client.get(f"/api/v1/certificates/{ident}/history", headers=auth(ecdsa_key))
    if history.status_code == 200:
        assert history.json()[-1]["category"] == category


def test_unknown_category_is_refused(client: TestClient, ecdsa_key: str) -> None:
    issued = client.post("/api/v1/certificates", json=sample_request(), headers=auth(ecdsa_key)).json()
    refused = client.post(
        f"/api/v1/certificates/{issued['identifier']}/revoke",
        json={"reason": "x", "category": "bored"}, headers=auth(ecdsa_key),
    )
    assert refused.status_code == 422 and refused.json()["code"] == "validation_failed"


def test_rate_limited_browser_gets_a_chinese_page_and_programs_json(embedded: ServiceContext) -> None:
    ctx = replace(embedded, settings=embedded.settings.model_copy(update={"public_rate_limit_per_minute": 1}))
    with TestClient(create_app(ctx), raise_server_exceptions=False) as limited_client:
        browser = {"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
        assert limited_client.get("/v/1.2.156.3005.2.NOPE", headers=browser).status_code == 404
        page = limited_client.get("/v/1.2.156.3005.2.NOPE", headers=browser)
        assert page.status_code == 429 and page.headers["content-type"].startswith("text/html")
        assert "请稍后再试" in page.text and page.headers["retry-after"] in page.text
        program = limited_client.get("/v/1.2.156.3005.2.NOPE", headers={"accept": "application/json"})
        assert program.status_code == 429
        assert program.headers["content-type"] == "application/problem+json"
        assert program.json()["code"] == "rate_limited"


def test_revoked_licence_shows_revoked(client: TestClient, embedded: ServiceContext, scanned: dict[str, Any]) -> None:  # noqa: F811
    with embedded.database.transaction() as session:
        session.query(Certificate).filter_by(identifier=scanned["identifier"]).one().status = "revoked"
    try:
        page = client.get(_path(scanned["text"]))
        assert 'id="verdict">已撤销' in page.text
    finally:
        with embedded.database.transaction() as session:
            session.query(Certificate).filter_by(identifier=scanned["identifier"]).one().status = "valid"


def test_upload_pdf_and_qr_photo_forms(client: TestClient, scanned: dict[str, Any]) -> None:  # noqa: F811
    checked = client.post("/v/check", files={"file": ("licence.pdf", scanned["pdf"], "application/pdf")})
    assert checked.status_code == 200 and 'id="verdict">\n 有效' in checked.text, checked.text[:2000]
    photo = client.post("/v/scan", files={"file": ("qr.png", scanned["png"], "image/png")})
    assert photo.status_code == 200 and "qr_signature_valid" in photo.text and "有效" in photo.text
    junk = client.post("/v/scan", files={"file": ("qr.png", b"nope", "image/png")})
    assert junk.status_code == 422 and 'id="error"' in junk.text
