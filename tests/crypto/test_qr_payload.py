"""The compact QR payload: B41 encoding, signing and verifying with ECDSA P-256 and SM2."""

from __future__ import annotations

import os
import string
from datetime import date

import pytest

from certsvc.crypto import api as crypto
from certsvc.errors import InvalidQrPayloadError

pytestmark = pytest.mark.db_independent

IDENTIFIER = "1.2.156.3005.2.11100000MB0143028R001.11152500011512829G.2026000001.001.1"
QR_ALPHANUMERIC = set(string.digits + string.ascii_uppercase + " $%*+-./:")
# RFC 3986 pchar without percent-encoding: unreserved / sub-delims / ":" / "@"
URL_PATH_SAFE = set(string.ascii_letters + string.digits + "-._~!$&'()*+,;=:@")


def _claims(name: str = "张*三", holder_id: str = "1502**********1234") -> crypto.QrClaims:
    return crypto.QrClaims(
        identifier=IDENTIFIER,
        issued_on=date(2026, 3, 1),
        valid_from=date(2026, 3, 1),
        valid_until=date(2031, 2, 28),
        data_digest=bytes(range(32)),
        holder_name_masked=name,
        holder_id_masked=holder_id,
    )


def test_alphabet_is_qr_alphanumeric_and_url_path_safe() -> None:
    assert len(crypto.QR_ALPHABET) == 41 == len(set(crypto.QR_ALPHABET))
    assert set(crypto.QR_ALPHABET) <= QR_ALPHANUMERIC
    assert set(crypto.QR_ALPHABET) <= URL_PATH_SAFE
    assert "/" not in crypto.QR_ALPHABET and "." not in crypto.QR_ALPHABET


@pytest.mark.parametrize("size", [0, 1, 2, 3, 31, 64, 151])
def test_b41_round_trip(size: int) -> None:
    data = os.urandom(size)
    text = crypto.b41encode(data)
    assert len(text) == size // 2 * 3 + size % 2 * 2
    assert crypto.b41decode(text) == data


@pytest.mark.parametrize("bad", ["A", "ABCD", "abc", "0 0", "::::", "%%%"])
def test_b41_rejects_bad_text(bad: str) -> None:
    with pytest.raises(InvalidQrPayloadError):
        crypto.b41decode(bad)


@pytest.mark.parametrize("algorithm", [crypto.KeyAlgorithm.ECDSA_P256, crypto.KeyAlgorithm.SM2])
@pytest.mark.parametrize(
    ("name", "holder_id"),
    [("张*三", "1502**********1234"), ("无锡*************公司", "9132**********3Q43"), ("王", "********")],
)
def test_sign_decode_verify_then_one_changed_byte_fails(
    algorithm: crypto.KeyAlgorithm, name: str, holder_id: str
) -> None:
    key = crypto.SealKey.generate(algorithm)
    claims = _claims(name, holder_id)
    text = crypto.sign_qr_payload(claims, key)
    payload = crypto.decode_qr_payload(IDENTIFIER, text)
    assert payload.claims == claims
    assert payload.kid == crypto.key_id(key.public_key_spki_der())
    verifier = crypto.load_verifying_key(algorithm, key.public_key_spki_der())
    assert verifier.verify(payload.signature, payload.signed_message)

    raw = bytearray(crypto.b41decode(text))
    for index in (20, len(raw) - 70, len(raw) - 1):  # digest, masked id, signature
        changed = bytearray(raw)
        changed[index] ^= 0x01
        try:
            tampered = crypto.decode_qr_payload(IDENTIFIER, crypto.b41encode(bytes(changed)))
        except InvalidQrPayloadError:
            continue
        assert not verifier.verify(tampered.signature, tampered.signed_message)
    # The identifier beside the payload is signed too.
    other = crypto.decode_qr_payload(IDENTIFIER.replace(".001.1", ".001.2"), text)
    assert not verifier.verify(other.signature, other.signed_message)


def test_payload_is_compact() -> None:
    key = crypto.SealKey.generate(crypto.KeyAlgorithm.ECDSA_P256)
    text = crypto.sign_qr_payload(_claims("无锡*************公司", "9132**********3Q43"), key)
    # 1 + 8 + 6 + 32 + 2 + 13 ("无锡*公司") + 9 + 64 = 135 bytes → 67 × 3 + 2 = 203 characters
    assert len(text) == 203


def test_truncated_or_unknown_version_is_malformed() -> None:
    key = crypto.SealKey.generate(crypto.KeyAlgorithm.ECDSA_P256)
    raw = crypto.b41decode(crypto.sign_qr_payload(_claims(), key))
    with pytest.raises(InvalidQrPayloadError):
        crypto.decode_qr_payload(IDENTIFIER, crypto.b41encode(raw[:60]))
    with pytest.raises(InvalidQrPayloadError):
        crypto.decode_qr_payload(IDENTIFIER, crypto.b41encode(b"\x02" + raw[1:]))


def test_sm2_digest_is_sm3() -> None:
    # GB/T 32905 test vector: SM3("abc")
    assert crypto.licence_digest(crypto.KeyAlgorithm.SM2, b"abc").hex().startswith("66c7f0f462eeedd9")
    assert len(crypto.licence_digest(crypto.KeyAlgorithm.ECDSA_P256, b"abc")) == 32
