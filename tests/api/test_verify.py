"""POST /api/v1/verify: genuine, tampered, re-signed by strangers, and not PDFs at all."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from reportlab.pdfgen import canvas

from certsvc.api.app import create_app
from certsvc.config import load_settings
from certsvc.crypto import api as crypto
from certsvc.domain.layout import SealBox
from certsvc.services.context import ServiceContext, build_context
from certsvc.storage.orm import Seal
from tests.conftest import auth, sample_request


@pytest.fixture(scope="module")
def issued(client: TestClient, ecdsa_key: str) -> tuple[str, bytes]:
    body = client.post("/api/v1/certificates", json=sample_request(), headers=auth(ecdsa_key)).json()
    pdf = client.get(body["links"]["pdf"], headers=auth(ecdsa_key)).content
    return body["identifier"], pdf


def _verify(client: TestClient, pdf: bytes) -> dict[str, object]:
    response = client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"})
    assert response.status_code == 200, response.text
    report: dict[str, object] = response.json()
    return report


def _codes(report: dict[str, object]) -> set[str]:
    return {r["code"] for r in report["reasons"]}  # type: ignore[index, union-attr]


def test_issued_pdf_is_valid(client: TestClient, issued: tuple[str, bytes]) -> None:
    identifier, pdf = issued
    report = _verify(client, pdf)
    assert report["verdict"] == "valid", report
    assert _codes(report) == {"signature_valid", "licence_valid"}
    # PAdES B-LTA: the seal, then the document time-stamp over the file and its DSS.
    sig, stamp = report["signatures"]  # type: ignore[misc]
    assert sig["algorithm"] == "ecdsa-sha256"
    assert sig["is_intact"] and sig["is_trusted"] and sig["modification_level"] == "archival"
    assert stamp["covers_whole_file"] and stamp["is_trusted"]
    assert sig["signer"] == "锡林郭勒盟市场监督管理局"
    registry = report["registry"]
    assert registry["identifier"] == identifier and registry["is_issued_file"]  # type: ignore[index]
    assert registry["status"] == "valid"  # type: ignore[index]
    reason = report["reasons"][0]  # type: ignore[index]
    assert reason["message_zh"] and reason["message_en"]


def test_multipart_upload_is_accepted(client: TestClient, issued: tuple[str, bytes]) -> None:
    response = client.post("/api/v1/verify", files={"file": ("licence.pdf", issued[1], "application/pdf")})
    assert response.status_code == 200
    assert response.json()["verdict"] == "valid"


def test_one_changed_byte_in_the_signed_range_is_invalid(client: TestClient, issued: tuple[str, bytes]) -> None:
    pdf = bytearray(issued[1])
    at = pdf.index(b"ReportLab")  # inside the document info, i.e. inside the first signed range
    pdf[at] = ord("X")
    report = _verify(client, bytes(pdf))
    assert report["verdict"] == "invalid"
    assert "signature_broken" in _codes(report)
    assert report["registry"] is None or not report["registry"]["is_issued_file"]  # type: ignore[index]


def test_incremental_update_that_changes_the_page_is_not_valid(client: TestClient, issued: tuple[str, bytes]) -> None:
    writer = IncrementalPdfFileWriter(io.BytesIO(issued[1]))
    # Paint a white box over part of the page and write new text: what a forger would do.
    stream = generic.StreamObject(stream_data=b"1 1 1 rg 60 600 300 40 re f 0 0 0 rg 60 610 200 10 re f")
    writer.add_stream_to_page(0, writer.add_object(stream))
    out = io.BytesIO()
    writer.write(out)
    report = _verify(client, out.getvalue())
    assert report["verdict"] != "valid"
    assert "modified_after_signing" in _codes(report)
    sig = report["signatures"][0]  # type: ignore[index]
    assert sig["is_intact"] and not sig["covers_whole_file"]
    assert sig["modification_level"] == "other"


def test_signature_by_a_key_outside_the_trust_roots_is_not_trusted(
    client: TestClient, embedded: ServiceContext, issued: tuple[str, bytes]
) -> None:
    now = datetime.now(UTC)
    root_key = crypto.SealKey.generate(crypto.KeyAlgorithm.ECDSA_P256)
    root = crypto.make_root_ca(
        key=root_key, common_name="Rogue Root", organization="Rogue", not_before=now - timedelta(hours=1),
        not_after=now + timedelta(days=30),
    )
    seal_key = crypto.SealKey.generate(crypto.KeyAlgorithm.ECDSA_P256)
    cert = crypto.make_seal_certificate(
        key=seal_key, department_name="锡林郭勒盟市场监督管理局", credit_code="11152500011512829G",
        issuer_certificate_der=root, issuer_key=root_key, not_before=now - timedelta(hours=1),
        not_after=now + timedelta(days=30),
    )
    # A plain page the forger signs with a look-alike seal and the right department name.
    buf = io.BytesIO()
    page = canvas.Canvas(buf)
    page.drawString(72, 720, "Food business licence (forged)")
    page.save()
    image = embedded.blobs.get(_any_seal_image(embedded))
    sealer = crypto.PdfSealer(key=crypto.LoadedKey(seal_key, certificate_der=cert, chain_der=[root]), seal_image_png=image)
    forged = sealer.seal(
        buf.getvalue(), box=SealBox(0, 400, 100, 520, 220), department_name="锡林郭勒盟市场监督管理局",
        signed_at=now, reason="forged",
    )
    report = _verify(client, forged)
    assert report["verdict"] != "valid"
    assert "signer_untrusted" in _codes(report)
    assert "not_in_registry" in _codes(report)
    (sig,) = report["signatures"]  # type: ignore[misc]
    assert sig["is_intact"] and not sig["is_trusted"]


def _any_seal_image(ctx: ServiceContext) -> str:
    with ctx.database.read() as session:
        seal = session.query(Seal).first()
        assert seal is not None
        return seal.image_sha256


def _problem(response: object, status: int, code: str) -> None:
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/problem+json"  # type: ignore[attr-defined]
    assert response.json()["code"] == code  # type: ignore[attr-defined]


def test_not_a_pdf(client: TestClient) -> None:
    _problem(client.post("/api/v1/verify", content=b"hello, I am text", headers={"content-type": "application/pdf"}), 422, "invalid_document")
    _problem(client.post("/api/v1/verify", content=b"", headers={"content-type": "application/pdf"}), 422, "invalid_document")
    _problem(client.post("/api/v1/verify", content=b"x", headers={"content-type": "image/png"}), 422, "invalid_document")


def test_truncated_pdf(client: TestClient, issued: tuple[str, bytes]) -> None:
    _problem(
        client.post("/api/v1/verify", content=issued[1][: len(issued[1]) // 2], headers={"content-type": "application/pdf"}),
        422,
        "invalid_document",
    )


def test_malformed_pdf(client: TestClient) -> None:
    garbage = b"%PDF-1.7\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\nxref\nnonsense\ntrailer << /Root 9 0 R >>\n%%EOF"
    _problem(client.post("/api/v1/verify", content=garbage, headers={"content-type": "application/pdf"}), 422, "invalid_document")


def test_multipart_without_file_part(client: TestClient) -> None:
    _problem(client.post("/api/v1/verify", data={"other": "x"}, files={"x": ("a", b"b")}), 400, "missing_file")


def test_oversized_upload_is_413(embedded: ServiceContext, issued: tuple[str, bytes]) -> None:
    small = build_context(
        load_settings(home=embedded.settings.home, public_url=embedded.settings.public_url, max_upload_bytes=4096),
        migrate=False,
    )
    with TestClient(create_app(small), raise_server_exceptions=False) as small_client:
        _problem(
            small_client.post("/api/v1/verify", content=issued[1], headers={"content-type": "application/pdf"}),
            413,
            "document_too_large",
        )
        _problem(small_client.post("/api/v1/verify", files={"file": ("l.pdf", issued[1], "application/pdf")}), 413, "document_too_large")
    small.database.dispose()


def test_a_signature_without_byte_range_is_a_report_not_an_error(client: TestClient, issued: tuple[str, bytes]) -> None:
    """Removing /ByteRange used to make the file unreadable (422); it is a broken signature."""
    from tests.pdf_attacks import usf_byte_range_removed

    report = _verify(client, usf_byte_range_removed(issued[1]))
    assert report["verdict"] == "invalid"
    assert "signature_broken" in _codes(report)
    # The seal's, and (B-LTA) the document time-stamp's, which covered the bytes as they were.
    broken = [r for r in report["reasons"] if r["code"] == "signature_broken"]  # type: ignore[union-attr]
    assert any("/ByteRange" in r["message_en"] for r in broken)  # type: ignore[index]
