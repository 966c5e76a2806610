"""POST /api/v1/verify/qr, GET /api/v1/trust/keys, the CLI's offline commands, and rate limiting."""

from __future__ import annotations

import json
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from certsvc.api.app import create_app
from certsvc.services.context import ServiceContext
from certsvc.services.trust import parse_trust_list
from certsvc_cli.main import app as cli_app
from tests.services.test_qr import page_images


@pytest.fixture(scope="module")
def scanned(qr_licences: dict[str, dict[str, Any]], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The food licence's QR text and the page image that shows it."""
    from certsvc.services.qr import decode_qr_image

    info = qr_licences["food-business-licence"]
    png = page_images(info["pdf"], tmp_path_factory.mktemp("api-qr"), dpi=200)[0]
    return {**info, "text": decode_qr_image(png, max_bytes=1 << 30), "png": png}


def test_verify_qr_text_json_plain_and_multipart(client: TestClient, scanned: dict[str, Any]) -> None:
    for kwargs in (
        {"json": {"text": scanned["text"]}},
        {"content": scanned["text"].encode(), "headers": {"content-type": "text/plain"}},
        {"data": {"text": scanned["text"]}},
    ):
        response = client.post("/api/v1/verify/qr", **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["verdict"] == "valid"
        assert [r["code"] for r in body["reasons"]] == ["qr_signature_valid", "licence_valid"]
        assert body["registry"]["identifier"] == scanned["identifier"]
        assert body["signatures"][0]["field_name"] == "qr" and body["signatures"][0]["is_trusted"]
        assert body["qr"]["identifier"] == scanned["identifier"]
        assert "*" in body["qr"]["holder_name_masked"]
        # The same report shape as POST /api/v1/verify, plus "qr".
        assert {"verdict", "reasons", "signatures", "registry", "checked_at", "file_sha256"} <= set(body)


def test_verify_qr_image_png_body_and_multipart(client: TestClient, scanned: dict[str, Any]) -> None:
    raw = client.post("/api/v1/verify/qr", content=scanned["png"], headers={"content-type": "image/png"})
    assert raw.status_code == 200 and raw.json()["verdict"] == "valid", raw.text
    form = client.post("/api/v1/verify/qr", files={"file": ("scan.png", scanned["png"], "image/png")})
    assert form.status_code == 200 and form.json()["verdict"] == "valid", form.text


def test_verify_qr_bad_inputs(client: TestClient) -> None:
    junk = client.post("/api/v1/verify/qr", json={"text": "https://example.org/hello"})
    assert junk.status_code == 200 and junk.json()["verdict"] == "invalid"
    assert [r["code"] for r in junk.json()["reasons"]] == ["qr_malformed"]
    not_image = client.post("/api/v1/verify/qr", content=b"\x89PNG\r\n\x1a\nnot really", headers={"content-type": "image/png"})
    assert not_image.status_code == 422 and not_image.json()["code"] == "invalid_document"


def test_trust_keys_are_signed_and_list_both_algorithms(client: TestClient, embedded: ServiceContext) -> None:
    response = client.get("/api/v1/trust/keys")
    assert response.status_code == 200
    document = response.json()
    listed = parse_trust_list(document, anchors_der=embedded.trust_roots())
    assert {k.algorithm for k in listed.keys} >= {"ecdsa-p256", "sm2"}
    assert all(len(k.kid) == 16 and not k.is_revoked for k in listed.keys)
    document["keys"][0]["status"] = "active-but-changed"
    with pytest.raises(Exception, match="signature"):
        parse_trust_list(document, anchors_der=embedded.trust_roots())
    with pytest.raises(Exception, match="trusted root"):
        parse_trust_list(response.json(), anchors_der=[])


def test_cli_trust_export_then_verify_qr_offline(
    embedded: ServiceContext, scanned: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTSVC_HOME", str(embedded.settings.resolved_home))
    monkeypatch.setenv("CERTSVC_PUBLIC_URL", embedded.settings.public_url)
    runner = CliRunner()
    keys = tmp_path / "keys.json"
    exported = runner.invoke(cli_app, ["trust", "export", str(keys)])
    assert exported.exit_code == 0, exported.output
    anchor = sorted(embedded.trust_roots_dir.glob("*.der"))
    args = ["verify-qr", scanned["text"], "--keys", str(keys), "--json"] + [a for p in anchor for a in ("--anchor", str(p))]
    ok = runner.invoke(cli_app, args)
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output)["verdict"] == "valid"
    bad = runner.invoke(cli_app, ["verify-qr", scanned["text"][:-3] + "000", "--keys", str(keys)])
    assert bad.exit_code == 1 and "verdict: invalid" in bad.output


def test_public_endpoints_answer_429_past_the_limit(embedded: ServiceContext) -> None:
    limited = replace(embedded, settings=embedded.settings.model_copy(update={"public_rate_limit_per_minute": 3}))
    with TestClient(create_app(limited)) as client:
        codes = [client.get("/api/v1/trust/keys").status_code for _ in range(3)]
        codes += [client.post("/api/v1/verify/qr", json={"text": "x"}).status_code]
        codes += [client.get("/v/1.2.3").status_code]
        codes += [client.post("/api/v1/verify", content=b"%PDF-", headers={"content-type": "application/pdf"}).status_code]
        assert codes[:3] == [200, 200, 200]
        assert codes[3:] == [429, 429, 429]
        limited_answer = client.get("/v/1.2.3")
        assert limited_answer.json()["code"] == "rate_limited"
        assert int(limited_answer.headers["retry-after"]) > 0
        assert client.get("/healthz").status_code == 200  # not a public verification endpoint


def test_pdftoppm_is_there() -> None:
    assert subprocess.run(["pdftoppm", "-v"], capture_output=True).returncode == 0
