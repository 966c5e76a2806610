"""OCSP of the SM2 seal CA, checked step by step with the openssl CLI.

``openssl ocsp`` makes the request and prints the answer, but cannot check an SM2 signature with
the GM/T 0009 default ID, so (as for the SM2 time-stamps, test_openssl_sm2_timestamp.py) the
signature is checked on its own: SM2-with-SM3 over DER(tbsResponseData) with the CA's public
key and the default ID, and a changed byte fails.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp
from fastapi.testclient import TestClient

from certsvc.api.app import create_app
from certsvc.clock import FixedClock
from certsvc.config import load_settings
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.principals import local_operator
from certsvc.services.provisioning import DEMO_DEPARTMENTS, init_embedded
from certsvc.services.revocation import RevocationService
from certsvc.services.seal_admin import SealAdminService
from certsvc.storage.orm import Seal

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed"),
]
pytest.importorskip("certsvc.crypto.sm2")

T0 = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
SM2 = next(d for d in DEMO_DEPARTMENTS if d.algorithm.value == "sm2")
DISTID = "distid:1234567812345678"  # GM/T 0009-2012 default signer ID


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceContext]:
    ctx = build_context(load_settings(home=tmp_path_factory.mktemp("sm2-ocsp"), public_rate_limit_per_minute=0), clock=FixedClock(T0))
    init_embedded(ctx)
    yield ctx
    ctx.database.dispose()


def _pem(der: bytes, path: Path) -> Path:
    path.with_suffix(".der").write_bytes(der)
    assert _openssl("x509", "-inform", "DER", "-in", path.with_suffix(".der"), "-out", path).returncode == 0
    return path


def _ask(client: TestClient, ca: Path, seal: Path, tmp_path: Path, name: str) -> tuple[Path, str]:
    request = tmp_path / f"{name}.req"
    made = _openssl("ocsp", "-issuer", ca, "-cert", seal, "-reqout", request)  # with a nonce
    assert made.returncode == 0, made.stderr
    answer = client.post("/pki/sm2/ocsp", content=request.read_bytes(), headers={"Content-Type": "application/ocsp-request"})
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/ocsp-response"
    response = tmp_path / f"{name}.resp"
    response.write_bytes(answer.content)
    text = _openssl("ocsp", "-respin", response, "-resp_text", "-noverify", "-issuer", ca, "-cert", seal, "-reqin", request)
    return response, text.stdout + text.stderr


def _check_signature(response: Path, text: str, ca: Path, tmp_path: Path) -> None:
    basic = asn1_ocsp.OCSPResponse.load(response.read_bytes())["response_bytes"]["response"].parsed
    assert basic["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"  # SM2-with-SM3
    assert "Signature Algorithm: SM2-with-SM3" in text
    tbs, signature = tmp_path / "tbs.der", tmp_path / "sig.der"
    tbs.write_bytes(basic["tbs_response_data"].dump())
    signature.write_bytes(basic["signature"].native)
    public = tmp_path / "ca-pub.pem"
    assert _openssl("x509", "-in", ca, "-noout", "-pubkey", "-out", public).returncode == 0
    verify = ("pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pkeyopt", DISTID, "-pubin", "-inkey", public, "-sigfile", signature)
    ok = _openssl(*verify, "-in", tbs)
    assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout, ok.stdout + ok.stderr
    tbs.write_bytes(tbs.read_bytes()[:-1] + bytes([tbs.read_bytes()[-1] ^ 1]))
    assert _openssl(*verify, "-in", tbs).returncode != 0


def test_sm2_ca_answers_ocsp_good_then_revoked(deployment: ServiceContext, tmp_path: Path) -> None:
    ctx = deployment
    made = SealAdminService(ctx).add_seal(SM2.code, name="合同专用章", algorithm="sm2", validity_days=365, principal=local_operator())
    with ctx.database.read() as session:
        row = session.get(Seal, made.id)
        assert row is not None
        seal_der = row.certificate_der
    seal = _pem(seal_der, tmp_path / "seal.pem")
    ca = _pem((ctx.pki_dir / "dev-seal-ca-sm2.der").read_bytes(), tmp_path / "ca.pem")
    listing = _openssl("x509", "-in", seal, "-noout", "-text").stdout
    assert f"OCSP - URI:{ctx.settings.public_url}/pki/sm2/ocsp" in listing

    with TestClient(create_app(ctx)) as client:
        response, text = _ask(client, ca, seal, tmp_path, "good")
        assert "Cert Status: good" in text and "Nonce" in text, text
        assert "WARNING: no nonce" not in text and "nonce verify error" not in text.lower()
        _check_signature(response, text, ca, tmp_path)

        RevocationService(ctx).revoke_seal(made.id, reason="key-compromise", invalid_from=T0 - timedelta(days=2), principal=local_operator())
        response, text = _ask(client, ca, seal, tmp_path, "revoked")
        assert "Cert Status: revoked" in text and "Reason: keyCompromise" in text, text
        assert "Revocation Time: Jun  1 02:00:00 2026 GMT" in text
        assert "Invalidity Date" in text and "May 30 02:00:00 2026 GMT" in text
        _check_signature(response, text, ca, tmp_path)

        garbage = client.post("/pki/sm2/ocsp", content=b"\x30\x00", headers={"Content-Type": "application/ocsp-request"})
        assert garbage.status_code == 200 and garbage.content == bytes.fromhex("30030a0101")  # malformedRequest
