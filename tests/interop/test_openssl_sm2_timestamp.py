"""GM/T 0033 (SM2) time-stamps checked step by step with the openssl CLI.

OpenSSL's ``ts -verify`` cannot check SM2 tokens (its SM2 default ID is empty and its TS code
knows no SM2 signer), so each link is checked on its own: the token's OIDs, SM3 of the
TSTInfo against the signed messageDigest, SM3 of the TSA certificate against the ESS
signing-certificate-v2 hash, the SM2 signature over DER(signedAttrs) with the default ID, and
the imprint against SM3 of what was time-stamped. The tokens come from an SM2 seal: the one in
the PDF signature's unsigned attributes and the one in the GB/T 38540 SES_Signature.timeStamp.
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms

from certsvc.crypto.api import KeyAlgorithm, PdfSealer, make_department_seal_data, sign_pdf_ranges
from certsvc.crypto.ses import parse_signature
from certsvc.crypto.sm2 import DEFAULT_SIGNER_ID
from certsvc.domain.layout import SealBox
from tests.pki import (
    DEPARTMENT_NAME,
    NOT_AFTER,
    NOT_BEFORE,
    SIGNED_AT,
    pki,
    sample_pdf,
    seal_png,
    tsa,
)

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed"),
    pytest.mark.db_independent,
]
pytest.importorskip("certsvc.crypto.sm2")

DISTID = f"distid:{DEFAULT_SIGNER_ID.decode()}"


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, check=False, timeout=60)


def _sm3(path: Path) -> bytes:
    res = _openssl("dgst", "-sm3", "-binary", path)
    assert res.returncode == 0, res.stderr
    return res.stdout


@pytest.fixture(scope="module")
def sm2_seal() -> tuple[bytes, bytes]:
    return sm2_sealed_with_ses()


@functools.cache
def sm2_sealed_with_ses() -> tuple[bytes, bytes]:
    """(sealed PDF, its SES_Signature), both time-stamped by the SM2 TSA."""
    chain = pki(KeyAlgorithm.SM2)
    authority = tsa(KeyAlgorithm.SM2)
    sealer = PdfSealer(
        key=chain.signing_key, seal_image_png=seal_png(), timestamp_transport=authority.respond,
    )  # fmt: skip
    pdf = sealer.seal(
        sample_pdf(), box=SealBox(0, 380, 80, 520, 220), department_name=DEPARTMENT_NAME,
        signed_at=SIGNED_AT, reason="签发",
    )  # fmt: skip
    seal_data = make_department_seal_data(
        es_id="11152502011513952PTEST0001", seal_name="行政审批专用章",
        seal_certificate_der=chain.seal_der, maker_key=chain.intermediate_key,
        maker_certificate_der=chain.intermediate_der, picture_png=seal_png(), diameter_mm=42,
        valid_start=NOT_BEFORE, valid_end=NOT_AFTER, created_at=NOT_BEFORE,
    )  # fmt: skip
    ses_signature = sign_pdf_ranges(
        pdf, seal_der=seal_data, key=chain.signing_key,
        signed_at=SIGNED_AT, timestamp_transport=authority.respond,
    )  # fmt: skip
    return pdf, ses_signature


def _pdf_token(pdf: bytes) -> tuple[bytes, bytes]:
    """(token DER, the signature value it covers) from the PDF signature's unsigned attributes."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    (sig,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    (si,) = sig.signed_data["signer_infos"]
    (attr,) = si["unsigned_attrs"]
    assert attr["type"].native == "signature_time_stamp_token"
    return attr["values"][0].dump(), si["signature"].native


def _ses_token(ses_signature: bytes) -> tuple[bytes, bytes]:
    info = parse_signature(ses_signature)
    assert info.time_stamp is not None
    return info.time_stamp, info.signature


def _check_step_by_step(token_der: bytes, covered: bytes, tmp_path: Path) -> None:
    token = tmp_path / "token.der"
    token.write_bytes(token_der)
    # 0. the GM/T 0033 OIDs: SM3 digests, SM2-with-SM3 signature, id-ct-TSTInfo content.
    listing = _openssl("asn1parse", "-inform", "DER", "-in", token).stdout.decode()
    assert "id-smime-ct-TSTInfo" in listing
    assert ":sm3" in listing
    assert "SM2-with-SM3" in listing

    signed: Any = cms.ContentInfo.load(token_der)["content"]
    (si,) = signed["signer_infos"]
    attrs = {a["type"].native: a["values"][0] for a in si["signed_attrs"]}

    # 1. SM3 of the TSTInfo (the eContent octets) is the signed messageDigest.
    tst = tmp_path / "tstinfo.der"
    tst.write_bytes(signed["encap_content_info"]["content"].contents)
    assert _sm3(tst) == attrs["message_digest"].native

    # 2. the imprint is SM3 of what was time-stamped (the seal's signature value).
    info = signed["encap_content_info"]["content"].parsed
    value = tmp_path / "covered.bin"
    value.write_bytes(covered)
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    assert _sm3(value) == info["message_imprint"]["hashed_message"].native

    # 3. the ESS signing-certificate-v2 names the TSA certificate by its SM3 hash.
    serial = si["sid"].chosen["serial_number"].native
    (tsa_cert,) = [c.chosen for c in signed["certificates"] if c.chosen.serial_number == serial]
    cert = tmp_path / "tsa.der"
    cert.write_bytes(tsa_cert.dump())
    (ess,) = attrs["signing_certificate_v2"]["certs"]
    assert ess["hash_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    assert _sm3(cert) == ess["cert_hash"].native

    # 4. the SM2 signature over DER(signedAttrs) (SET OF tag, RFC 5652 §5.4), default ID.
    pub = tmp_path / "tsa-pub.pem"
    assert _openssl("x509", "-inform", "DER", "-in", cert, "-noout", "-pubkey", "-out", pub).returncode == 0
    attrs_file = tmp_path / "signed-attrs.der"
    attrs_file.write_bytes(b"\x31" + si["signed_attrs"].dump()[1:])
    sig = tmp_path / "sig.der"
    sig.write_bytes(si["signature"].native)
    assert si["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    verify = ("pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pkeyopt", DISTID, "-pubin", "-inkey", pub)
    ok = _openssl(*verify, "-in", attrs_file, "-sigfile", sig)
    assert ok.returncode == 0 and b"Signature Verified Successfully" in ok.stdout, ok.stdout + ok.stderr
    attrs_file.write_bytes(attrs_file.read_bytes()[:-1] + bytes([attrs_file.read_bytes()[-1] ^ 1]))
    assert _openssl(*verify, "-in", attrs_file, "-sigfile", sig).returncode != 0


def test_pdf_signature_time_stamp_step_by_step(sm2_seal: tuple[bytes, bytes], tmp_path: Path) -> None:
    token, covered = _pdf_token(sm2_seal[0])
    _check_step_by_step(token, covered, tmp_path)


def test_ses_signature_time_stamp_step_by_step(sm2_seal: tuple[bytes, bytes], tmp_path: Path) -> None:
    token, covered = _ses_token(sm2_seal[1])
    _check_step_by_step(token, covered, tmp_path)
