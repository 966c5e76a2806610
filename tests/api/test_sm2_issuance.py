"""A department whose seal is SM2 issues and verifies exactly like an ECDSA one."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from certsvc.crypto.ses import parse_signature
from certsvc.crypto.sm2 import sm3
from tests.conftest import auth, sample_request


@pytest.fixture(scope="module")
def sm2_issued(client: TestClient, sm2_key: str) -> tuple[str, bytes]:
    response = client.post("/api/v1/certificates", json=sample_request(), headers=auth(sm2_key))
    assert response.status_code == 201, response.text
    identifier = response.json()["identifier"]
    pdf = client.get(f"/api/v1/certificates/{identifier}/pdf", headers=auth(sm2_key)).content
    return identifier, pdf


def test_sm2_sealed_licence_verifies_through_the_sm2_chain(client: TestClient, sm2_issued: tuple[str, bytes]) -> None:
    identifier, pdf = sm2_issued
    report = client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"}).json()
    assert report["verdict"] == "valid", report
    sig, stamp = report["signatures"]  # PAdES B-LTA: the seal, then the document time-stamp
    assert sig["algorithm"] == "sm2-sm3" and stamp["algorithm"] == "sm2-sm3"  # GM/T 0033 document time-stamp
    assert sig["is_intact"] and sig["is_trusted"] and sig["modification_level"] == "archival"
    assert sig["signer"] == "锡林浩特市行政审批和政务服务局"
    codes = {r["code"] for r in report["reasons"]}
    assert {"signature_valid", "seal_data_valid", "licence_valid"} <= codes
    assert report["registry"]["identifier"] == identifier


def test_sm2_tampered_byte_is_invalid(client: TestClient, sm2_issued: tuple[str, bytes]) -> None:
    pdf = bytearray(sm2_issued[1])
    pdf[pdf.index(b"ReportLab")] = ord("X")
    report = client.post("/api/v1/verify", content=bytes(pdf), headers={"content-type": "application/pdf"}).json()
    assert report["verdict"] == "invalid"
    assert "signature_broken" in {r["code"] for r in report["reasons"]}


def test_seal_signature_endpoint_returns_the_gbt38540_signature(
    client: TestClient, sm2_key: str, sm2_issued: tuple[str, bytes]
) -> None:
    identifier, pdf = sm2_issued
    response = client.get(f"/api/v1/certificates/{identifier}/seal-signature", headers=auth(sm2_key))
    assert response.status_code == 200
    info = parse_signature(response.content)
    assert info.property_info.startswith("PDF/ByteRange[")
    a, b, c, d = (int(x) for x in info.property_info[len("PDF/ByteRange[") : -1].split())
    assert info.data_hash == sm3(pdf[a : a + b] + pdf[c : c + d])
    assert info.seal.seal_name == "行政审批专用章"


def test_ecdsa_licence_has_no_seal_signature(client: TestClient, ecdsa_key: str) -> None:
    identifier = client.post("/api/v1/certificates", json=sample_request(), headers=auth(ecdsa_key)).json()["identifier"]
    response = client.get(f"/api/v1/certificates/{identifier}/seal-signature", headers=auth(ecdsa_key))
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
