"""SealKey: generation, encrypted PEM, loading errors, signing, and not leaking key material."""

from __future__ import annotations

import pickle

import pytest
from asn1crypto import keys, pem
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from certsvc.crypto.api import KeyAlgorithm, SealKey, generate_private_key_pem
from certsvc.errors import KeyUnavailableError, SigningError
from tests.pki import damaged_pem, pki

pytestmark = pytest.mark.db_independent

PASS = b"correct horse battery staple"


@pytest.fixture(scope="module", params=[KeyAlgorithm.RSA_3072, KeyAlgorithm.ECDSA_P256])
def pem_and_alg(request: pytest.FixtureRequest) -> tuple[bytes, KeyAlgorithm]:
    return generate_private_key_pem(request.param, PASS), request.param


def test_generated_pem_is_encrypted_pkcs8(pem_and_alg: tuple[bytes, KeyAlgorithm]) -> None:
    pem_bytes, _ = pem_and_alg
    _, _, der = pem.unarmor(pem_bytes)
    assert keys.EncryptedPrivateKeyInfo.load(der)["encryption_algorithm"]["algorithm"].native == "pbes2"
    with pytest.raises(TypeError):  # cryptography: password required → really encrypted
        serialization.load_pem_private_key(pem_bytes, password=None)


def test_from_pem_round_trip(pem_and_alg: tuple[bytes, KeyAlgorithm]) -> None:
    pem, alg = pem_and_alg
    key = SealKey.from_pem(pem, PASS)
    assert key.algorithm is alg
    spki = key.public_key_spki_der()
    expected = (
        serialization.load_pem_private_key(pem, PASS)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert spki == expected


def test_wrong_passphrase(pem_and_alg: tuple[bytes, KeyAlgorithm]) -> None:
    pem, _ = pem_and_alg
    with pytest.raises(KeyUnavailableError) as info:
        SealKey.from_pem(pem, b"s3cr3t-Guess")
    assert "s3cr3t-Guess" not in str(info.value)
    assert info.value.code == "key_unavailable"


@pytest.mark.parametrize("kind", ["empty", "text", "damaged", "cut"])
def test_garbage_is_key_unavailable(kind: str, pem_and_alg: tuple[bytes, KeyAlgorithm]) -> None:
    good, _ = pem_and_alg  # made in this run: the damaged ones are built from it, not committed
    garbage = {"empty": b"", "text": b"hello", "damaged": damaged_pem(good), "cut": good[:40]}[kind]
    with pytest.raises(KeyUnavailableError):
        SealKey.from_pem(garbage, PASS)


def test_empty_passphrase_refused() -> None:
    with pytest.raises(ValueError):
        generate_private_key_pem(KeyAlgorithm.ECDSA_P256, b"")


def test_sign_verifies_with_public_key() -> None:
    rsa_key = pki(KeyAlgorithm.RSA_3072).seal_key
    ec_key = pki(KeyAlgorithm.ECDSA_P256).seal_key
    msg = "电子证照".encode()
    rsa_pub = serialization.load_der_public_key(rsa_key.public_key_spki_der())
    rsa_pub.verify(rsa_key.sign(msg), msg, padding.PKCS1v15(), hashes.SHA256())  # type: ignore[union-attr,call-arg,arg-type]
    ec_pub = serialization.load_der_public_key(ec_key.public_key_spki_der())
    ec_pub.verify(ec_key.sign(msg), msg, ec.ECDSA(hashes.SHA256()))  # type: ignore[union-attr,call-arg,arg-type]


def test_sign_refuses_weak_digest() -> None:
    with pytest.raises(SigningError):
        pki(KeyAlgorithm.ECDSA_P256).seal_key.sign(b"x", digest_algorithm="sha1")


def test_repr_and_pickle_do_not_leak() -> None:
    key = pki(KeyAlgorithm.RSA_3072).seal_key
    assert repr(key) == "SealKey(algorithm='rsa-3072')"
    assert str(key) == repr(key)
    with pytest.raises(TypeError):
        pickle.dumps(key)


def test_closed_handle() -> None:
    with SealKey.generate(KeyAlgorithm.ECDSA_P256) as key:
        key.sign(b"x")
    with pytest.raises(KeyUnavailableError):
        key.sign(b"x")


def test_sm2_round_trip() -> None:
    pytest.importorskip("certsvc.crypto.sm2")
    pem = generate_private_key_pem(KeyAlgorithm.SM2, PASS)
    key = SealKey.from_pem(pem, PASS)
    assert key.algorithm is KeyAlgorithm.SM2
    assert repr(key) == "SealKey(algorithm='sm2')"
    with pytest.raises(KeyUnavailableError):
        SealKey.from_pem(pem, b"wrong")
    from certsvc.crypto.sm2 import Sm2PublicKey

    sig = key.sign(b"msg", digest_algorithm="sm3")
    assert Sm2PublicKey.from_spki_der(key.public_key_spki_der()).verify(sig, b"msg")
