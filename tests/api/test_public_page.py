"""The public page /v/{identifier}: status only for a bare identifier, details with a signed payload."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from certsvc.services.context import ServiceContext
from certsvc.services.qr import parse_qr_text
from certsvc.storage.orm import Certificate
from tests.api.test_qr import scanned  # noqa: F401  (module fixture reused)


def _path(text: str) -> str:
    identifier, payload = parse_qr_text(text)
    return f"/V/{identifier}/{payload}"


def test_bare_identifier_shows_status_but_no_holder(client: TestClient, scanned: dict[str, Any]) -> None:  # noqa: F811
    page = client.get(f"/v/{scanned['identifier']}")
    assert page.status_code == 200
    assert 'id="verdict">有效' in page.text and "食品经营许可证" in page.text
    assert 'id="holder"' not in page.text and "草原味道" not in page.text.split('id="department"')[0]
    assert page.headers["cache-control"] == "no-store"


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
    assert 'id="qr-warning"' in page.text and 'id="holder"' not in page.text


def test_unknown_identifier_is_404(client: TestClient) -> None:
    page = client.get("/v/1.2.156.3005.2.NOPE")
    assert page.status_code == 404 and "未找到" in page.text


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
