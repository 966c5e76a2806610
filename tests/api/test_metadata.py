"""GB/T 36903 metadata: written by issuance, read back by verification when the bytes differ."""

from __future__ import annotations

import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import copy_into_new_writer

from certsvc.rendering import read_licence_metadata
from certsvc.services.context import ServiceContext
from certsvc.storage.repositories import CertificateRepository
from tests.conftest import auth, sample_request
from tests.pdfa import pdfa_2b_problems


@pytest.fixture(scope="module")
def issued(client: TestClient, ecdsa_key: str) -> dict[str, Any]:
    body = client.post("/api/v1/certificates", json=sample_request(), headers=auth(ecdsa_key)).json()
    pdf = client.get(body["links"]["pdf"], headers=auth(ecdsa_key)).content
    printed = client.get(body["links"]["pdf"], params={"variant": "print"}, headers=auth(ecdsa_key)).content
    return {"identifier": body["identifier"], "pdf": pdf, "print": printed}


def _verify(client: TestClient, pdf: bytes) -> dict[str, Any]:
    response = client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"})
    assert response.status_code == 200, response.text
    report: dict[str, Any] = response.json()
    return report


def _codes(report: dict[str, Any]) -> set[str]:
    return {r["code"] for r in report["reasons"]}


def test_issued_file_carries_the_gbt36903_metadata(embedded: ServiceContext, issued: dict[str, Any]) -> None:
    metadata = read_licence_metadata(issued["pdf"])
    assert metadata is not None
    with embedded.database.read() as session:
        cert = CertificateRepository(session).by_identifier(issued["identifier"])
        assert cert is not None
        expected = {
            "identifier": issued["identifier"],
            "licence_name": "食品经营许可证",
            "type_code": cert.type_code,
            "licence_number": cert.data["licence_number"],
            "holder_name": cert.holder_name,
            "holder_code": cert.holder_id,
            "holder_code_type": "001",  # 统一社会信用代码
            "issuer_name": cert.department.name,
            "issuer_code": cert.department.code,
            "issued_on": cert.issued_at.date().isoformat(),
            "valid_from": cert.valid_from.isoformat(),
            "valid_until": cert.valid_until.isoformat(),
            "area_code": cert.department.area_code,
        }
    assert metadata == expected
    assert read_licence_metadata(issued["print"]) == expected  # the paper copy says the same


def test_resident_id_holders_get_code_type_111(client: TestClient, sm2_key: str) -> None:
    request = sample_request("special-operations-certificate")
    body = client.post("/api/v1/certificates", json=request, headers=auth(sm2_key)).json()
    pdf = client.get(body["links"]["pdf"], headers=auth(sm2_key)).content
    metadata = read_licence_metadata(pdf)
    assert metadata is not None
    assert metadata["holder_code_type"] == "111"  # 公民身份号码
    assert metadata["licence_number"] == request["fields"]["certificate_number"]


def test_issued_file_is_pdfa_2b_after_sealing(issued: dict[str, Any]) -> None:
    assert pdfa_2b_problems(issued["pdf"]) == []


def test_the_print_copy_is_recognised_as_such(client: TestClient, issued: dict[str, Any]) -> None:
    """The registry's own print copy: neither valid nor invalid, the licence named, the QR pointed to."""
    report = _verify(client, issued["print"])
    assert report["verdict"] == "print_copy"
    assert _codes(report) == {"print_copy", "licence_valid"}
    (print_copy,) = [r for r in report["reasons"] if r["code"] == "print_copy"]
    assert print_copy["message_zh"].startswith("打印件不含电子签章，请扫描二维码核验")
    registry = report["registry"]
    assert registry["identifier"] == issued["identifier"] and registry["is_print_copy"] is True
    assert registry["is_issued_file"] is False and registry["status"] == "valid"


def test_an_edited_print_copy_is_only_identified_by_its_metadata(client: TestClient, issued: dict[str, Any]) -> None:
    edited = issued["print"].replace(b"ReportLab", b"ReportLaX", 1)
    assert edited != issued["print"]
    report = _verify(client, edited)
    assert "print_copy" not in _codes(report) and "identified_by_metadata" in _codes(report)
    assert report["verdict"] == "invalid"  # no signature: an edited print copy is nothing official


def test_a_resaved_file_is_found_through_its_metadata(client: TestClient, issued: dict[str, Any]) -> None:
    # Rewritten from scratch (as "save as" in many tools does): new bytes, broken signature.
    writer = copy_into_new_writer(PdfFileReader(io.BytesIO(issued["pdf"])))
    out = io.BytesIO()
    writer.write(out)
    report = _verify(client, out.getvalue())
    assert report["verdict"] != "valid"
    assert "identified_by_metadata" in _codes(report)
    assert report["registry"]["identifier"] == issued["identifier"]
    assert report["registry"]["is_issued_file"] is False


def test_metadata_contradicting_the_registry_is_invalid(client: TestClient, issued: dict[str, Any]) -> None:
    metadata = read_licence_metadata(issued["print"])
    assert metadata is not None
    real = metadata["holder_code"].encode()
    forged_code = (b"1" if real[:1] != b"1" else b"2") + real[1:]  # same length: offsets stay valid
    forged = issued["print"].replace(b">" + real + b"<", b">" + forged_code + b"<")
    assert forged != issued["print"]
    report = _verify(client, forged)
    assert {"identified_by_metadata", "metadata_mismatch"} <= _codes(report)
    assert report["verdict"] == "invalid"


def test_metadata_naming_an_unknown_licence_is_not_in_registry(client: TestClient, issued: dict[str, Any]) -> None:
    identifier = issued["identifier"].encode()
    unknown = identifier[:-1] + (b"X" if identifier[-1:] != b"X" else b"Y")
    report = _verify(client, issued["print"].replace(identifier, unknown))
    assert "not_in_registry" in _codes(report) and report["registry"] is None


def test_the_public_page_shows_a_print_copy_as_a_print_copy(client: TestClient, issued: dict[str, Any]) -> None:
    page = client.post("/v/check", files={"file": ("licence.pdf", issued["print"], "application/pdf")})
    assert page.status_code == 200
    assert 'class="verdict print_copy" id="verdict">\n 打印件' in page.text
    assert "无效" not in page.text and 'id="print-copy"' in page.text
    assert "打印件不含电子签章，请扫描二维码核验" in page.text and issued["identifier"] in page.text
