"""Key files at rest: scrypt-protected PKCS#8 by default, older PBKDF2 files still open."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from certsvc.crypto.api import (
    KeyAlgorithm,
    KeyFileKdf,
    SealKey,
    generate_private_key_pem,
    key_file_opens_with,
    key_file_protection,
    rewrap_key_file,
)
from certsvc.errors import KeyUnavailableError

pytestmark = pytest.mark.db_independent

PASS = b"xlgl-2026-key-passphrase"


@pytest.mark.parametrize("algorithm", [KeyAlgorithm.ECDSA_P256, KeyAlgorithm.SM2], ids=str)
def test_new_key_files_use_scrypt_at_owasp_cost_by_default_and_openssl_reads_them(
    tmp_path: Path, algorithm: KeyAlgorithm
) -> None:
    pem = generate_private_key_pem(algorithm, PASS)
    protection = key_file_protection(pem)
    assert (protection.kdf, protection.cost) == ("scrypt", 14)
    assert protection.is_at_least(KeyFileKdf()) and not protection.is_at_least(KeyFileKdf(14, p=6))
    assert SealKey.from_pem(pem, PASS).algorithm is algorithm  # SM2: read by OpenSSL itself
    (tmp_path / "k.pem").write_bytes(pem)
    # An independent reader: OpenSSL opens the RFC 7914 structure with the passphrase.
    opened = subprocess.run(
        ["openssl", "pkey", "-in", str(tmp_path / "k.pem"), "-passin", f"pass:{PASS.decode()}", "-noout"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr


@pytest.mark.parametrize("algorithm", [KeyAlgorithm.RSA_3072, KeyAlgorithm.SM2], ids=str)
def test_every_algorithm_round_trips_and_a_wrong_passphrase_is_refused(algorithm: KeyAlgorithm) -> None:
    pem = generate_private_key_pem(algorithm, PASS, kdf=KeyFileKdf(12))
    assert key_file_protection(pem).kdf == "scrypt"
    assert SealKey.from_pem(pem, PASS).algorithm is algorithm
    assert not key_file_opens_with(pem, b"another passphrase")
    with pytest.raises(KeyUnavailableError):
        SealKey.from_pem(pem, b"another passphrase")


def test_an_old_pbkdf2_file_opens_and_rewraps_to_scrypt_under_a_new_passphrase() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    old = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"old")
    )
    assert key_file_protection(old).kdf == "pbkdf2"
    assert SealKey.from_pem(old, b"old").algorithm is KeyAlgorithm.ECDSA_P256
    new = rewrap_key_file(old, passphrases=[b"new", b"old"], new_passphrase=b"new", kdf=KeyFileKdf(12))
    assert (key_file_protection(new).kdf, key_file_protection(new).cost) == ("scrypt", 12)
    reopened = SealKey.from_pem(new, b"new")
    expected = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert reopened.public_key_spki_der() == expected
    with pytest.raises(KeyUnavailableError, match="none of the configured passphrases"):
        rewrap_key_file(old, passphrases=[b"wrong"], new_passphrase=b"new", kdf=KeyFileKdf(12))
