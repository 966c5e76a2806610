"""An SM2-sealed licence checked with the OpenSSL CLI, not with certsvc's own code.

`openssl cms -verify` cannot check SM2 signatures made with the standard signer id in OpenSSL
3.0 (STANDARDS.md §2.5), so the two halves of a CMS check are done by hand with the CLI:
the message-digest attribute equals `openssl dgst -sm3` of the signed byte ranges, and the
signature over the DER signed attributes verifies with the seal certificate's public key.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from fastapi.testclient import TestClient

from tests.conftest import auth, sample_request

pytestmark = pytest.mark.interop


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, check=False, timeout=60)


def _cms_of(pdf: bytes) -> tuple[tuple[int, int, int, int], cms.SignedData]:
    a, b, c, d = (int(x) for x in re.findall(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", pdf)[0])  # the seal (a B-LTA document time-stamp follows)
    contents_hex = pdf[a + b : c].strip().lstrip(b"<").rstrip(b">")
    # The DER says its own length; the zero padding after it is ignored. (Stripping zero bytes
    # would cut a signature whose last byte happens to be 0x00.)
    info = cms.ContentInfo.load(bytes.fromhex(contents_hex.decode()))
    return (a, b, c, d), info["content"]


def test_sm2_sealed_pdf_checks_out_with_the_openssl_cli(client: TestClient, sm2_key: str, tmp_path: Path) -> None:
    body = client.post("/api/v1/certificates", json=sample_request(), headers=auth(sm2_key)).json()
    pdf = client.get(f"/api/v1/certificates/{body['identifier']}/pdf", headers=auth(sm2_key)).content
    (a, b, c, d), signed_data = _cms_of(pdf)
    signer = signed_data["signer_infos"][0]
    assert signer["digest_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"  # SM3
    assert signer["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"  # SM2-with-SM3

    # 1. message digest == SM3 of the signed byte ranges, computed by openssl.
    ranges = tmp_path / "ranges.bin"
    ranges.write_bytes(pdf[a : a + b] + pdf[c : c + d])
    dgst = _openssl("dgst", "-sm3", "-binary", ranges)
    assert dgst.returncode == 0, dgst.stderr
    attrs = {attr["type"].dotted: attr for attr in signer["signed_attrs"]}
    message_digest = attrs["1.2.840.113549.1.9.4"]["values"][0].native
    assert message_digest == dgst.stdout

    # 2. the SM2 signature over the DER signed attributes verifies with the seal certificate.
    signed_attrs = tmp_path / "signed_attrs.der"
    signed_attrs.write_bytes(signer["signed_attrs"].untag().dump(force=True))
    signature = tmp_path / "signature.der"
    signature.write_bytes(signer["signature"].native)
    serial = signer["sid"].chosen["serial_number"].native
    cert = next(c.chosen for c in signed_data["certificates"] if c.chosen.serial_number == serial)
    cert_der = tmp_path / "seal.der"
    cert_der.write_bytes(cert.dump())
    pub = tmp_path / "seal-pub.pem"
    extracted = _openssl("x509", "-inform", "DER", "-in", cert_der, "-pubkey", "-noout", "-out", pub)
    assert extracted.returncode == 0, extracted.stderr
    verified = _openssl(
        "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-digest", "sm3",
        "-pkeyopt", "distid:1234567812345678", "-in", signed_attrs, "-sigfile", signature,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert b"Signature Verified Successfully" in verified.stdout

    # A changed signed attribute must not verify: the check above can fail.
    tampered = bytearray(signed_attrs.read_bytes())
    tampered[-1] ^= 0x01
    signed_attrs.write_bytes(bytes(tampered))
    refused = _openssl(
        "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-digest", "sm3",
        "-pkeyopt", "distid:1234567812345678", "-in", signed_attrs, "-sigfile", signature,
    )
    assert refused.returncode != 0
