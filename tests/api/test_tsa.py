"""The built-in TSA over HTTP (``POST /api/v1/tsa``, role ``timestamping``), and seals that take
their time-stamps from a TSA reached over HTTP (``CERTSVC_TSA_URL``)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from certsvc.config import load_settings
from certsvc.errors import TimeStampUnavailableError
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.principals import Role, create_api_client
from certsvc.services.timestamping import HttpTimeStampTransport
from tests.conftest import auth

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")


@pytest.fixture(scope="module")
def tsa_key(embedded: ServiceContext) -> str:
    with embedded.database.transaction() as session:
        return create_api_client(
            session, name="tsa-client", role=Role.TIMESTAMPING, department_id=None
        ).api_key


def _query(tmp_path: Path, data: bytes, md: str = "-sha256") -> Path:
    source = tmp_path / "data"
    source.write_bytes(data)
    query = tmp_path / "q.tsq"
    res = subprocess.run(
        ["openssl", "ts", "-query", "-data", source, md, "-cert", "-out", query],
        capture_output=True, check=False,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return query


@needs_openssl
def test_openssl_client_gets_a_verifiable_token(
    client: TestClient, embedded: ServiceContext, tsa_key: str, tmp_path: Path
) -> None:
    query = _query(tmp_path, "锡林浩特市 营业执照".encode())
    answer = client.post(
        "/api/v1/tsa",
        content=query.read_bytes(),
        headers={**auth(tsa_key), "Content-Type": "application/timestamp-query"},
    )
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/timestamp-reply"
    reply = tmp_path / "r.tsr"
    reply.write_bytes(answer.content)
    root = tmp_path / "root.pem"
    der = embedded.trust_roots_dir / "dev-root-ecdsa.der"
    subprocess.run(["openssl", "x509", "-inform", "DER", "-in", der, "-out", root], check=True)
    ok = subprocess.run(
        ["openssl", "ts", "-verify", "-queryfile", query, "-in", reply, "-CAfile", root],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ok.returncode == 0 and "Verification: OK" in ok.stdout, ok.stdout + ok.stderr


def test_only_the_timestamping_role_may_ask(
    client: TestClient, ecdsa_key: str, operator_key: str
) -> None:
    headers = {"Content-Type": "application/timestamp-query"}
    assert client.post("/api/v1/tsa", content=b"x", headers=headers).status_code == 401
    for key in (ecdsa_key, operator_key):
        refused = client.post("/api/v1/tsa", content=b"x", headers={**headers, **auth(key)})
        assert refused.status_code == 403


def test_bad_requests_are_problems_or_rejections(client: TestClient, tsa_key: str) -> None:
    wrong_type = client.post("/api/v1/tsa", content=b"x", headers={**auth(tsa_key), "Content-Type": "application/json"})
    assert wrong_type.status_code == 400
    assert wrong_type.headers["content-type"] == "application/problem+json"
    assert wrong_type.json()["code"] == "unsupported_media_type"
    headers = {**auth(tsa_key), "Content-Type": "application/timestamp-query"}
    too_big = client.post("/api/v1/tsa", content=bytes(5000), headers=headers)
    assert too_big.status_code == 413 and too_big.json()["code"] == "document_too_large"
    # Damaged DER is an RFC 3161 refusal (status rejection, failInfo badRequest), not an HTTP error.
    garbage = client.post("/api/v1/tsa", content=b"\x30\x00", headers=headers)
    assert garbage.status_code == 200
    assert garbage.content.startswith(b"\x30") and b"\x02\x01\x02" in garbage.content


def test_issued_licence_is_time_stamped(client: TestClient, ecdsa_key: str) -> None:
    from tests.conftest import sample_request

    issued = client.post("/api/v1/certificates", json=sample_request(), headers=auth(ecdsa_key))
    assert issued.status_code == 201, issued.text
    pdf = client.get(issued.json()["links"]["pdf"], headers=auth(ecdsa_key))
    report = client.post("/api/v1/verify", content=pdf.content, headers={"Content-Type": "application/pdf"}).json()
    assert report["verdict"] == "valid", report
    signature, document_timestamp = report["signatures"]  # B-LTA: the seal, then the document time-stamp
    assert signature["timestamped_at"] is not None
    assert document_timestamp["signer"].startswith("certsvc Development TSA")


def test_seals_through_a_tsa_over_http(
    embedded: ServiceContext, server_url: str, tsa_key: str, tmp_path: Path
) -> None:
    """A second deployment whose seals are time-stamped by the first one's TSA over HTTP."""
    from certsvc.services.embedded_init import init_embedded

    settings = load_settings(
        home=tmp_path / "other", tsa_url=f"{server_url}/api/v1/tsa", tsa_api_key=tsa_key,
        public_rate_limit_per_minute=0,
    )  # fmt: skip
    other = build_context(settings)
    init_embedded(other)
    # The first deployment's TSA root is what the second one must trust for the time-stamps.
    (other.trust_roots_dir / "remote-tsa-root.der").write_bytes(
        (embedded.trust_roots_dir / "dev-root-ecdsa.der").read_bytes()
    )
    transport = other.timestamp_transport("ecdsa-p256")
    assert isinstance(transport, HttpTimeStampTransport)
    from certsvc.services.issuance import IssuanceService
    from certsvc.services.registry import RegistryService
    from certsvc.services.requests import parse_issue_request
    from certsvc.services.verification import VerificationService
    from certsvc_cli.main import _default_department
    from certsvc_cli.operator import issuer_principal

    principal = issuer_principal(other, _default_department(other))
    issued = IssuanceService(other).issue(parse_issue_request({**_sample(), "template": "food-business-licence"}), principal=principal)
    pdf = RegistryService(other).file(issued.identifier, principal=principal).read()
    report = VerificationService(other).verify_pdf(pdf)
    assert report.verdict.value == "valid", report.reasons
    assert report.signatures[0].timestamped_at is not None
    other.database.dispose()
    # The token is the first deployment's TSA's, not the second one's own built-in TSA.
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    sig = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]  # the seal (then the document time-stamp)
    (signer,) = sig.signed_data["signer_infos"]
    token = signer["unsigned_attrs"][0]["values"][0]
    token_certs = {c.chosen.dump() for c in token["content"]["certificates"]}
    assert (embedded.pki_dir / "dev-tsa-ecdsa.der").read_bytes() in token_certs
    assert (other.pki_dir / "dev-tsa-ecdsa.der").read_bytes() not in token_certs


def _sample() -> dict[str, object]:
    from tests.conftest import sample_request

    return sample_request()


def test_unreachable_or_refusing_tsa_is_an_error(tsa_key: str, server_url: str) -> None:
    down = HttpTimeStampTransport("http://127.0.0.1:9/tsa", timeout_seconds=2)
    with pytest.raises(TimeStampUnavailableError, match="cannot be reached"):
        down(b"\x30\x00")
    no_key = HttpTimeStampTransport(f"{server_url}/api/v1/tsa", timeout_seconds=5)
    with pytest.raises(TimeStampUnavailableError, match="HTTP 401"):
        no_key(b"\x30\x00")


def test_sm2_licence_has_gmt0033_time_stamps(client: TestClient, sm2_key: str) -> None:
    from asn1crypto import cms

    from certsvc.crypto.ses import parse_signature
    from tests.conftest import sample_request

    issued = client.post("/api/v1/certificates", json=sample_request(), headers=auth(sm2_key))
    assert issued.status_code == 201, issued.text
    body = issued.json()
    pdf = client.get(body["links"]["pdf"], headers=auth(sm2_key)).content
    seal_signature = client.get(f"/api/v1/certificates/{body['identifier']}/seal-signature", headers=auth(sm2_key))
    assert seal_signature.status_code == 200
    token = parse_signature(seal_signature.content).time_stamp
    assert token is not None
    (signer,) = cms.ContentInfo.load(token)["content"]["signer_infos"]
    assert signer["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"  # SM2-with-SM3
    report = client.post("/api/v1/verify", content=pdf, headers={"Content-Type": "application/pdf"}).json()
    assert report["verdict"] == "valid", report
    assert "seal_data_valid" in {r["code"] for r in report["reasons"]}
    assert report["signatures"][0]["timestamped_at"] is not None
