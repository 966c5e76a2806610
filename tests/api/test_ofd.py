"""OFD licences through the API: issued with SM2 seals, fetched per revision, verified by content."""

from __future__ import annotations

import io
import zipfile

import pytest
from fastapi.testclient import TestClient

from certsvc.crypto.ofd_signing import SIGNED_VALUE_PATH
from tests.conftest import auth, sample_request


@pytest.fixture(scope="module")
def sm2_ofd(client: TestClient, sm2_key: str) -> tuple[str, bytes]:
    response = client.post("/api/v1/certificates", json=sample_request(), headers=auth(sm2_key))
    assert response.status_code == 201, response.text
    identifier = response.json()["identifier"]
    ofd = client.get(f"/api/v1/certificates/{identifier}/ofd", headers=auth(sm2_key))
    assert ofd.status_code == 200, ofd.text
    assert ofd.headers["content-type"] == "application/ofd"
    assert ".ofd" in ofd.headers["content-disposition"]
    assert ofd.headers["content-length"] == str(len(ofd.content))
    return identifier, ofd.content


def _verify(client: TestClient, data: bytes, content_type: str = "application/octet-stream") -> dict:  # type: ignore[type-arg]
    response = client.post("/api/v1/verify", content=data, headers={"content-type": content_type})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def _repack(data: bytes, name: str, body: bytes | None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            if info.filename != name:
                dst.writestr(info.filename, src.read(info))
        if body is not None:
            dst.writestr(name, body)
    return out.getvalue()


def test_issued_ofd_verifies_with_the_pdf_report_shape(client: TestClient, sm2_ofd: tuple[str, bytes]) -> None:
    identifier, ofd = sm2_ofd
    # Detected by content: sent as if it were a PDF, it is still checked as an OFD.
    report = _verify(client, ofd, "application/pdf")
    assert report["verdict"] == "valid", report
    codes = {r["code"] for r in report["reasons"]}
    assert {"signature_valid", "seal_data_valid", "licence_valid"} <= codes
    (sig,) = report["signatures"]
    assert sig["algorithm"] == "sm2-sm3" and sig["is_intact"] and sig["is_trusted"] and sig["covers_whole_file"]
    assert sig["signer"] == "锡林浩特市行政审批和政务服务局"
    assert report["registry"]["identifier"] == identifier and report["registry"]["is_issued_file"]


def test_tampered_ofd_is_invalid_and_still_found_by_its_metadata(client: TestClient, sm2_ofd: tuple[str, bytes]) -> None:
    identifier, ofd = sm2_ofd
    with zipfile.ZipFile(io.BytesIO(ofd)) as archive:
        content = archive.read("Doc_0/Pages/Page_0/Content.xml")
    changed = _repack(ofd, "Doc_0/Pages/Page_0/Content.xml", content.replace("食品".encode(), "药品".encode(), 1))
    report = _verify(client, changed)
    assert report["verdict"] == "invalid"
    codes = {r["code"] for r in report["reasons"]}
    assert "signature_broken" in codes and "identified_by_metadata" in codes
    assert report["registry"]["identifier"] == identifier and not report["registry"]["is_issued_file"]
    added = _repack(ofd, "Doc_0/Res/extra.png", b"\x89PNG\r\n\x1a\n")
    report = _verify(client, added)
    assert report["verdict"] == "invalid"
    assert "modified_after_signing" in {r["code"] for r in report["reasons"]}


def test_signed_value_of_another_licence_is_invalid(client: TestClient, sm2_key: str, sm2_ofd: tuple[str, bytes]) -> None:
    other = client.post("/api/v1/certificates", json=sample_request(), headers=auth(sm2_key)).json()["identifier"]
    other_ofd = client.get(f"/api/v1/certificates/{other}/ofd", headers=auth(sm2_key)).content
    with zipfile.ZipFile(io.BytesIO(other_ofd)) as archive:
        value = archive.read(SIGNED_VALUE_PATH)
    report = _verify(client, _repack(sm2_ofd[1], SIGNED_VALUE_PATH, value))
    assert report["verdict"] == "invalid"
    assert "signature_broken" in {r["code"] for r in report["reasons"]}


def test_ecdsa_department_has_no_ofd(client: TestClient, ecdsa_key: str) -> None:
    identifier = client.post("/api/v1/certificates", json=sample_request(), headers=auth(ecdsa_key)).json()["identifier"]
    response = client.get(f"/api/v1/certificates/{identifier}/ofd", headers=auth(ecdsa_key))
    assert response.status_code == 409
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "ofd_needs_sm2_seal"


def test_ofd_per_revision(client: TestClient, sm2_key: str, sm2_ofd: tuple[str, bytes]) -> None:
    identifier, ofd = sm2_ofd
    first = client.get(f"/api/v1/certificates/{identifier}/ofd", params={"revision": 1}, headers=auth(sm2_key))
    assert first.status_code == 200 and first.content == ofd
    missing = client.get(f"/api/v1/certificates/{identifier}/ofd", params={"revision": 7}, headers=auth(sm2_key))
    assert missing.status_code == 404


def _zip(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    return out.getvalue()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"PK\x03\x04 broken zip", "invalid_document"),
        (_zip({"OFD.xml": b"<a/>", "../../evil": b"x"}), "ofd_malformed"),
        (_zip({"OFD.xml": b'<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>'}), "ofd_malformed"),
        (_zip({"OFD.xml": b"<a/>", "Doc_0/zeros.xml": b"\0" * (8 * 1024 * 1024)}), "ofd_malformed"),  # a ZIP bomb
    ],
)
def test_malformed_ofd_is_a_clear_4xx(client: TestClient, body: bytes, code: str) -> None:
    response = client.post("/api/v1/verify", content=body, headers={"content-type": "application/ofd"})
    assert response.status_code == 422, response.text  # the project maps InvalidDocumentError to 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


def test_public_page_checks_an_uploaded_ofd(client: TestClient, sm2_ofd: tuple[str, bytes]) -> None:
    identifier, ofd = sm2_ofd
    response = client.post("/v/check", files={"file": ("licence.ofd", ofd, "application/ofd")})
    assert response.status_code == 200
    assert identifier in response.text and "valid" in response.text


def test_seal_carries_a_time_stamp_and_a_foreign_one_is_refused(client: TestClient, sm2_key: str, sm2_ofd: tuple[str, bytes]) -> None:
    from certsvc.crypto.ses_asn1 import SES_Signature

    _, ofd = sm2_ofd
    (sig,) = _verify(client, ofd)["signatures"]
    assert sig["timestamped_at"] is not None  # GB/T 38540 timeStamp from the SM2 TSA
    other = client.post("/api/v1/certificates", json=sample_request(), headers=auth(sm2_key)).json()["identifier"]
    with zipfile.ZipFile(io.BytesIO(client.get(f"/api/v1/certificates/{other}/ofd", headers=auth(sm2_key)).content)) as archive:
        foreign = SES_Signature.load(archive.read(SIGNED_VALUE_PATH))["time_stamp"].native
    with zipfile.ZipFile(io.BytesIO(ofd)) as archive:
        ours = SES_Signature.load(archive.read(SIGNED_VALUE_PATH))
    ours = SES_Signature({**{k: ours[k] for k in ("to_sign", "cert", "signature_alg_id", "signature")}, "time_stamp": foreign})
    report = _verify(client, _repack(ofd, SIGNED_VALUE_PATH, ours.dump()))
    assert report["verdict"] == "invalid"
    seal_data = next(r for r in report["reasons"] if r["code"] == "seal_data_invalid")
    assert "ses_timestamp_invalid" in seal_data["message_en"]
    assert report["signatures"][0]["is_intact"] and report["signatures"][0]["timestamped_at"] is None
