"""SM2/SM3 primitives: GB/T 32918.5 Annex A vector, round trips, PKCS#8 files."""

from __future__ import annotations

import secrets

import pytest
from asn1crypto import algos, keys
from asn1crypto import pem as pem_armour

from certsvc.crypto.sm2 import DEFAULT_SIGNER_ID, Sm2PrivateKey, Sm2PublicKey, sm3
from certsvc.errors import KeyUnavailableError
from tests.crypto import sm2_reference as ref
from tests.pki import damaged_pem

pytestmark = pytest.mark.db_independent

# GB/T 32918.5-2017 / GM/T 0003.5-2012 Annex A (STANDARDS §2.2 A): the example's public key,
# message, Z, e, nonce and signature. Its private key is not written here: the vector is checked
# from the public side (Z, e, verification of r, s), and signing is checked with keys made in code.
XA = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
YA = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
MSG = b"message digest"
Z = bytes.fromhex("B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3")
E = 0xF0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640
K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
R = 0xF5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3
S = 0xB1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA


def _public_key(x: int, y: int) -> Sm2PublicKey:
    spki = keys.PublicKeyInfo(
        {
            "algorithm": {"algorithm": "ec", "parameters": ("named", "1.2.156.10197.1.301")},
            "public_key": b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big"),
        }
    )
    return Sm2PublicKey.from_spki_der(spki.dump())


@pytest.fixture(scope="module")
def key() -> Sm2PrivateKey:
    return Sm2PrivateKey.generate()


def test_sm3_abc_vector() -> None:
    assert sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_annex_a_vector_reference() -> None:
    z = ref.z_digest(XA, YA, DEFAULT_SIGNER_ID)
    assert z == Z
    assert ref.e_digest(z, MSG) == E
    assert ref._verify(XA, YA, MSG, R, S, DEFAULT_SIGNER_ID)
    assert not ref._verify(XA, YA, MSG, R, (S + 1) % ref.N, DEFAULT_SIGNER_ID)
    assert not ref._verify(XA, YA, MSG + b"!", R, S, DEFAULT_SIGNER_ID)


def test_reference_signer_agrees_with_the_backend() -> None:
    # A key made in code, the Annex A nonce: the reference's public point and signature must
    # be what OpenSSL derives and accepts.
    d = secrets.randbelow(ref.N - 2) + 1
    x, y = ref.public_point(d)
    r, s = ref._sign_with_fixed_k(d, MSG, K, DEFAULT_SIGNER_ID)
    assert ref._verify(x, y, MSG, r, s, DEFAULT_SIGNER_ID)
    public = _public_key(x, y)
    assert public.verify(algos.DSASignature({"r": r, "s": s}).dump(), MSG)
    assert not public.verify(algos.DSASignature({"r": r, "s": (s + 1) % ref.N}).dump(), MSG)


def test_annex_a_signature_verifies_in_backend() -> None:
    pub = _public_key(XA, YA)
    der = algos.DSASignature({"r": R, "s": S}).dump()
    assert len(der) == 72  # both INTEGERs need a 0x00 pad
    assert pub.verify(der, MSG)
    assert pub.verify(R.to_bytes(32, "big") + S.to_bytes(32, "big"), MSG)  # raw r||s
    assert not pub.verify(der, MSG + b"!")
    assert not pub.verify(der, MSG, signer_id=b"")  # OpenSSL's empty-ID default is not ours


def test_backend_signature_verifies_in_reference(key: Sm2PrivateKey) -> None:
    sig = key.sign(MSG)
    parsed = algos.DSASignature.load(sig)
    point = keys.PublicKeyInfo.load(key.public_key().to_spki_der())["public_key"].native
    x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
    assert ref._verify(x, y, MSG, parsed["r"].native, parsed["s"].native, DEFAULT_SIGNER_ID)


def test_round_trip_and_negative_cases(key: Sm2PrivateKey) -> None:
    pub = key.public_key()
    sig = key.sign(b"hello")
    assert pub.verify(sig, b"hello")
    assert key.sign(b"hello") != sig  # fresh nonce each time
    assert not pub.verify(sig, b"hellO")
    assert not Sm2PrivateKey.generate().public_key().verify(sig, b"hello")
    assert not pub.verify(sig, b"hello", signer_id=b"ALICE123@YAHOO.COM")
    other_id = key.sign(b"hello", signer_id=b"ALICE123@YAHOO.COM")
    assert pub.verify(other_id, b"hello", signer_id=b"ALICE123@YAHOO.COM")
    for junk in (
        b"",
        b"\x30",
        b"\x00" * 64,
        b"\x30\x06\x02\x01\x01\x02\x01\x01",
        sig[:-1],
        sig + b"\x00",
    ):
        assert not pub.verify(junk, b"hello")


def test_raw_r_s_accepted(key: Sm2PrivateKey) -> None:
    sig = algos.DSASignature.load(key.sign(b"raw"))
    raw = sig["r"].native.to_bytes(32, "big") + sig["s"].native.to_bytes(32, "big")
    assert key.public_key().verify(raw, b"raw")
    assert not key.public_key().verify(raw, b"raW")


def test_spki_is_ec_with_sm2_curve(key: Sm2PrivateKey) -> None:
    spki = keys.PublicKeyInfo.load(key.public_key().to_spki_der())
    assert spki["algorithm"]["algorithm"].dotted == "1.2.840.10045.2.1"
    assert spki["algorithm"]["parameters"].chosen.dotted == "1.2.156.10197.1.301"
    assert Sm2PublicKey.from_spki_der(spki.dump()) == key.public_key()


def test_non_sm2_spki_rejected() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    p256 = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError):
        Sm2PublicKey.from_spki_der(p256)


def test_pkcs8_round_trip(key: Sm2PrivateKey) -> None:
    pem = key.to_pem(b"correct horse")
    _, _, der = pem_armour.unarmor(pem)
    assert keys.EncryptedPrivateKeyInfo.load(der)["encryption_algorithm"]["algorithm"].native == "pbes2"
    loaded = Sm2PrivateKey.from_pem(pem, b"correct horse")
    assert loaded.public_key() == key.public_key()
    assert key.public_key().verify(loaded.sign(b"m"), b"m")


def test_pkcs8_wrong_or_missing_passphrase(key: Sm2PrivateKey) -> None:
    pem = key.to_pem(b"correct horse")
    with pytest.raises(KeyUnavailableError) as wrong:
        Sm2PrivateKey.from_pem(pem, b"battery staple")
    assert wrong.value.code == "key_unavailable"
    assert "horse" not in str(wrong.value)
    with pytest.raises(KeyUnavailableError):
        Sm2PrivateKey.from_pem(pem, None)
    with pytest.raises(KeyUnavailableError):
        Sm2PrivateKey.from_pem(damaged_pem(pem), None)  # made from this run's key, not committed


def test_non_sm2_private_key_rejected() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(KeyUnavailableError):
        Sm2PrivateKey.from_pem(pem, None)


def test_repr_hides_key_material(key: Sm2PrivateKey) -> None:
    text = repr(key) + str(key)
    pem = key.to_pem(b"pw")
    assert "PRIVATE" not in text and pem.decode()[40:80] not in text
    assert text.startswith("<Sm2PrivateKey")


def test_closed_key_is_unavailable() -> None:
    with Sm2PrivateKey.generate() as k:
        k.sign(b"x")
    with pytest.raises(KeyUnavailableError):
        k.sign(b"x")
