"""certsvc SM2 against the OpenSSL command line (3.x): signatures, PKCS#8, certificates."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certsvc.crypto.sm2 import DEFAULT_SIGNER_ID, Sm2PrivateKey, Sm2PublicKey
from certsvc.crypto.sm2_certificates import build_sm2_certificate

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed"),
    pytest.mark.db_independent,
]

# OpenSSL 3 uses an empty SM2 ID unless told otherwise (STANDARDS §2.5).
DISTID = f"distid:{DEFAULT_SIGNER_ID.decode()}"


def _openssl(*args: str | Path, input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["openssl", *map(str, args)], input=input, capture_output=True, check=False, timeout=60
    )


def _openssl_verify(pub: Path, msg: Path, sig: Path) -> subprocess.CompletedProcess[bytes]:
    """``openssl pkeyutl -verify`` of an SM2/SM3 signature over the raw message, our signer ID."""
    return _openssl(
        "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pkeyopt", DISTID,
        "-pubin", "-inkey", pub, "-in", msg, "-sigfile", sig,
    )  # fmt: skip


def _pub_pem(key: Sm2PrivateKey, path: Path) -> Path:
    path.write_bytes(key.public_key().to_spki_der())
    pem = path.with_suffix(".pem")
    res = _openssl("pkey", "-pubin", "-inform", "DER", "-in", path, "-out", pem)
    assert res.returncode == 0, res.stderr
    return pem


def test_certsvc_signature_verifies_in_openssl(tmp_path: Path) -> None:
    key = Sm2PrivateKey.generate()
    pub = _pub_pem(key, tmp_path / "pub.der")
    msg = tmp_path / "msg"
    msg.write_bytes("电子印章 interop test\n".encode() * 50)
    sig = tmp_path / "sig"
    sig.write_bytes(key.sign(msg.read_bytes()))
    ok = _openssl_verify(pub, msg, sig)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    msg.write_bytes(msg.read_bytes() + b"x")
    bad = _openssl_verify(pub, msg, sig)
    assert bad.returncode != 0


def test_openssl_signature_verifies_in_certsvc(tmp_path: Path) -> None:
    key_pem = tmp_path / "key.pem"
    res = _openssl("genpkey", "-algorithm", "SM2", "-out", key_pem)
    assert res.returncode == 0, res.stderr
    msg = tmp_path / "msg"
    msg.write_bytes(b"message digest")
    sig = tmp_path / "sig"
    res = _openssl(
        "pkeyutl",
        "-sign",
        "-rawin",
        "-digest",
        "sm3",
        "-pkeyopt",
        DISTID,
        "-inkey",
        key_pem,
        "-in",
        msg,
        "-out",
        sig,
    )
    assert res.returncode == 0, res.stderr
    spki = _openssl("pkey", "-in", key_pem, "-pubout", "-outform", "DER").stdout
    pub = Sm2PublicKey.from_spki_der(spki)
    assert pub.verify(sig.read_bytes(), b"message digest")
    assert not pub.verify(sig.read_bytes(), b"message digesT")
    # certsvc reads OpenSSL's (unencrypted PKCS#8) key file too
    loaded = Sm2PrivateKey.from_pem(key_pem.read_bytes(), None)
    assert loaded.public_key() == pub


def test_openssl_reads_encrypted_pkcs8(tmp_path: Path) -> None:
    key = Sm2PrivateKey.generate()
    enc = tmp_path / "enc.pem"
    enc.write_bytes(key.to_pem(b"s3cret-\xe5\x8d\xb0"))
    passfile = tmp_path / "pass"
    passfile.write_bytes(b"s3cret-\xe5\x8d\xb0")
    res = _openssl("pkey", "-in", enc, "-passin", f"file:{passfile}", "-pubout", "-outform", "DER")
    assert res.returncode == 0, res.stderr
    assert res.stdout == key.public_key().to_spki_der()
    info = _openssl("asn1parse", "-in", enc).stdout.decode()
    assert "PBES2" in info and "aes-256-cbc" in info
    wrong = _openssl("pkey", "-in", enc, "-passin", "pass:nope", "-noout")
    assert wrong.returncode != 0


def test_openssl_parses_sm2_certificate(tmp_path: Path) -> None:
    key = Sm2PrivateKey.generate()
    now = datetime(2025, 1, 1, tzinfo=UTC)
    der = build_sm2_certificate(
        subject={
            "country_name": "CN",
            "organization_name": "某某市人民政府",
            "common_name": "测试根CA",
        },
        subject_public_key=key.public_key(),
        issuer_name=None,
        issuer_key=key,
        serial=0x1234,
        not_before=now,
        not_after=now + timedelta(days=365),
        is_ca=True,
        path_length=0,
        key_usage={"key_cert_sign", "crl_sign"},
    )
    path = tmp_path / "c.der"
    path.write_bytes(der)
    res = _openssl("x509", "-inform", "DER", "-in", path, "-text", "-noout", "-nameopt", "utf8")
    assert res.returncode == 0, res.stderr
    text = res.stdout.decode()
    assert "Signature Algorithm: SM2-with-SM3" in text
    assert "ASN1 OID: SM2" in text
    assert "CA:TRUE, pathlen:0" in text
    assert "测试根CA" in text
    assert "Subject Key Identifier" in text and "Authority Key Identifier" in text
