"""Compact signed QR payloads (after the EU DCC and ICAO VDS), and small signature helpers.

Encoding ("B41"): RFC 9285 Base45's scheme — two bytes become three digits, a trailing byte
two — with base 41 instead of 45 (41³ = 68921 > 65535, so the density is Base45's) and the
alphabet ``0-9 A-Z $ * + - :``. Every character is in the QR alphanumeric set (5.5 bits per
character) *and* is a literal RFC 3986 path character, so the payload can sit in a URL path
segment without percent-encoding. Base45 itself cannot: its space and ``%`` are not URL-safe.

Binary layout, version 1 (all integers big-endian; dates are days since 2000-01-01, and
0xFFFF is the end of a licence valid without end, 长期, registered as 9999-12-31)::

    0      version (1)
    1..8   key id: the first 8 bytes of SHA-256(SubjectPublicKeyInfo DER) of the signing key
    9..10  issued on        11..12 valid from        13..14 valid until
    15..46 licence data digest: SHA-256, or SM3 when the key is SM2 (see docs/qr.md)
    47     s, n, then n bytes: masked holder name, UTF-8, its run of ``*`` written as one ``*``
           and s its length (张*三 and 无锡******公司 cost the same few bytes)
    ..     m (length of the holder id), then 8 ASCII bytes (its first and last four) if m > 8
    -64    signature, raw r||s (ECDSA P-256 with SHA-256, or SM2 with SM3 and the default ID)

The signed message is ``b"CERTSVC-QR" || version || identifier || 0x00 || payload[:-64]``: the
identifier travels in the URL path beside the payload and is bound by the signature rather
than repeated (it is ~70 characters).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

from asn1crypto import algos
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from certsvc.crypto.keys import KeyAlgorithm, SealKey
from certsvc.crypto.signing import SigningKey
from certsvc.errors import InvalidQrPayloadError, SigningError

__all__ = [
    "QR_ALPHABET",
    "QR_PAYLOAD_VERSION",
    "QrClaims",
    "SignedQrPayload",
    "VerifyingKey",
    "b41decode",
    "b41encode",
    "certificate_public_key_spki",
    "decode_qr_payload",
    "is_directly_issued_by",
    "key_id",
    "licence_digest",
    "load_verifying_key",
    "sign_qr_payload",
    "sign_raw",
]

QR_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ$*+-:"
QR_PAYLOAD_VERSION = 1
_BASE = len(QR_ALPHABET)  # 41
_INDEX = {c: i for i, c in enumerate(QR_ALPHABET)}
_EPOCH = date(2000, 1, 1)
_KID_BYTES = 8
_SIG_BYTES = 64  # r||s, 32 bytes each, for both P-256 and sm2p256v1
_DOMAIN = b"CERTSVC-QR"
_MAX_PAYLOAD_CHARS = 1500  # a QR code holds at most ~4296 alphanumerics; refuse junk early


def b41encode(data: bytes) -> str:
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        n, c = divmod(n, _BASE)
        e, d = divmod(n, _BASE)
        out += (QR_ALPHABET[c], QR_ALPHABET[d], QR_ALPHABET[e])
    if len(data) % 2:
        e, c = divmod(data[-1], _BASE)
        out += (QR_ALPHABET[c], QR_ALPHABET[e])
    return "".join(out)


def b41decode(text: str) -> bytes:
    """Raises InvalidQrPayloadError for a character outside the alphabet or an impossible group."""
    if len(text) % 3 == 1:
        raise InvalidQrPayloadError("payload length is not a B41 length")
    try:
        digits = [_INDEX[c] for c in text]
    except KeyError as exc:
        raise InvalidQrPayloadError("payload has a character outside the B41 alphabet") from exc
    out = bytearray()
    for i in range(0, len(digits), 3):
        group = digits[i : i + 3]
        if len(group) == 3:
            n = group[0] + group[1] * _BASE + group[2] * _BASE * _BASE
            if n > 0xFFFF:
                raise InvalidQrPayloadError("payload has an impossible B41 group")
            out += n.to_bytes(2, "big")
        else:
            n = group[0] + group[1] * _BASE
            if n > 0xFF:
                raise InvalidQrPayloadError("payload has an impossible B41 group")
            out.append(n)
    return bytes(out)


def key_id(spki_der: bytes) -> bytes:
    """8-byte key id: the start of SHA-256 over the DER SubjectPublicKeyInfo (as the DCC's kid)."""
    return hashlib.sha256(spki_der).digest()[:_KID_BYTES]


def licence_digest(algorithm: KeyAlgorithm, data: bytes) -> bytes:
    """SHA-256, or SM3 (GB/T 32905) for SM2 departments."""
    if KeyAlgorithm(algorithm) is KeyAlgorithm.SM2:
        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize()
    return hashlib.sha256(data).digest()


@dataclass(frozen=True, slots=True)
class QrClaims:
    """What the QR payload states about a licence (the holder only masked)."""

    identifier: str
    issued_on: date
    valid_from: date
    valid_until: date
    data_digest: bytes
    holder_name_masked: str
    holder_id_masked: str


@dataclass(frozen=True, slots=True)
class SignedQrPayload:
    claims: QrClaims
    kid: bytes
    signed_message: bytes
    signature: bytes  # raw r||s


# A licence without an end (长期) is registered with this last day; in two bytes it is written
# as 0xFFFF, which no real date uses (real dates end at 0xFFFE, 2179-06-05).
_OPEN_END = date(9999, 12, 31)
_OPEN_END_DAYS = 0xFFFF


def _days(value: date) -> bytes:
    if value == _OPEN_END:
        return _OPEN_END_DAYS.to_bytes(2, "big")
    days = (value - _EPOCH).days
    if not 0 <= days < _OPEN_END_DAYS:
        raise ValueError(f"date {value} is outside the QR payload's range")
    return days.to_bytes(2, "big")


def _date(raw: bytes) -> date:
    days = int.from_bytes(raw, "big")
    return _OPEN_END if days == _OPEN_END_DAYS else _EPOCH + timedelta(days=days)


def _mask_id_parts(masked: str) -> bytes:
    if len(masked) > 255:
        raise ValueError("holder id too long")
    head = bytes([len(masked)])
    if len(masked) <= 8:
        return head  # fully masked: nothing visible to carry
    visible = (masked[:4] + masked[-4:]).encode("ascii")
    return head + visible


def _compact_name(masked: str) -> tuple[int, bytes]:
    # The masked run is the bulk of a company name's bytes: store its length, not the stars.
    start = masked.find("*")
    if start < 0:
        return 0, masked.encode("utf-8")
    end = start
    while end < len(masked) and masked[end] == "*":
        end += 1
    return min(end - start, 255), (masked[:start] + "*" + masked[end:]).encode("utf-8")


def _unsigned_body(claims: QrClaims, kid: bytes) -> bytes:
    stars, name = _compact_name(claims.holder_name_masked)
    if len(name) > 255:
        raise ValueError("masked holder name too long")
    if len(claims.data_digest) != 32:
        raise ValueError("data digest must be 32 bytes")
    return b"".join(
        (
            bytes([QR_PAYLOAD_VERSION]),
            kid,
            _days(claims.issued_on),
            _days(claims.valid_from),
            _days(claims.valid_until),
            claims.data_digest,
            bytes([stars, len(name)]),
            name,
            _mask_id_parts(claims.holder_id_masked),
        )
    )


def _message(identifier: str, body: bytes) -> bytes:
    return _DOMAIN + bytes([body[0]]) + identifier.encode("ascii") + b"\x00" + body


def sign_raw(key: SigningKey | SealKey, message: bytes) -> bytes:
    """Raw 64-byte r||s signature: ECDSA P-256/SHA-256 or SM2/SM3 (default ID).

    Raises:
        SigningError: the key cannot sign (wrong algorithm, closed handle).
    """
    if key.algorithm is KeyAlgorithm.SM2:
        der = key.sign(message, digest_algorithm="sm3")
        parsed = algos.DSASignature.load(der)
        r, s = int(parsed["r"].native), int(parsed["s"].native)
    elif key.algorithm is KeyAlgorithm.ECDSA_P256:
        r, s = decode_dss_signature(key.sign(message, digest_algorithm="sha256"))
    else:
        raise SigningError(f"QR payloads are signed with ECDSA P-256 or SM2, not {key.algorithm}")
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def sign_qr_payload(claims: QrClaims, key: SigningKey | SealKey) -> str:
    """The B41 text of the signed payload (without the URL or the identifier).

    Raises:
        SigningError: as for ``sign_raw``.
        ValueError: a claim does not fit the format (date out of range, name too long).
    """
    body = _unsigned_body(claims, key_id(key.public_key_spki_der()))
    return b41encode(body + sign_raw(key, _message(claims.identifier, body)))


def decode_qr_payload(identifier: str, text: str) -> SignedQrPayload:
    """Parse (not verify) a payload scanned beside ``identifier``.

    Raises:
        InvalidQrPayloadError: malformed, truncated, or an unknown version.
    """
    if len(text) > _MAX_PAYLOAD_CHARS or not identifier.isascii() or not identifier:
        raise InvalidQrPayloadError("payload or identifier is not plausible")
    raw = b41decode(text)
    fixed = 1 + _KID_BYTES + 6 + 32 + 2
    if len(raw) < fixed + 1 + _SIG_BYTES:
        raise InvalidQrPayloadError("payload is truncated")
    if raw[0] != QR_PAYLOAD_VERSION:
        raise InvalidQrPayloadError(f"unknown payload version {raw[0]}")
    body, signature = raw[:-_SIG_BYTES], raw[-_SIG_BYTES:]
    pos = 1
    kid = body[pos : pos + _KID_BYTES]
    pos += _KID_BYTES
    issued_on, valid_from, valid_until = (
        _date(body[pos + 2 * i : pos + 2 * i + 2]) for i in range(3)
    )
    pos += 6
    digest = body[pos : pos + 32]
    pos += 32
    stars, name_len = body[pos], body[pos + 1]
    pos += 2
    try:
        name = body[pos : pos + name_len].decode("utf-8")
        if stars:
            if "*" not in name:
                raise InvalidQrPayloadError("payload's masked name is inconsistent")
            name = name.replace("*", "*" * stars, 1)
        pos += name_len
        id_len = body[pos]
        pos += 1
        if id_len > 8:
            visible = body[pos : pos + 8].decode("ascii")
            pos += 8
            masked_id = visible[:4] + "*" * (id_len - 8) + visible[4:]
        else:
            masked_id = "*" * id_len
    except (IndexError, UnicodeDecodeError) as exc:
        raise InvalidQrPayloadError("payload fields are malformed") from exc
    if pos != len(body) or name_len > len(body):
        raise InvalidQrPayloadError("payload has trailing or missing bytes")
    claims = QrClaims(identifier, issued_on, valid_from, valid_until, digest, name, masked_id)
    return SignedQrPayload(
        claims=claims, kid=kid, signed_message=_message(identifier, body), signature=signature
    )


class VerifyingKey:
    """A loaded public key that checks raw r||s signatures; load once, verify many times."""

    __slots__ = ("_algorithm", "_key")

    def __init__(self, algorithm: KeyAlgorithm, key: object) -> None:
        self._algorithm = algorithm
        self._key = key

    @property
    def algorithm(self) -> KeyAlgorithm:
        return self._algorithm

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True iff the signature is valid; never raises for a bad signature."""
        if len(signature) != _SIG_BYTES:
            return False
        if self._algorithm is KeyAlgorithm.SM2:
            from certsvc.crypto.sm2 import Sm2PublicKey

            assert isinstance(self._key, Sm2PublicKey)
            return self._key.verify(signature, message)
        assert isinstance(self._key, ec.EllipticCurvePublicKey)
        der = encode_dss_signature(
            int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        )
        try:
            self._key.verify(der, message, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


def load_verifying_key(algorithm: KeyAlgorithm, spki_der: bytes) -> VerifyingKey:
    """Raises ValueError when the key is not of ``algorithm``."""
    algorithm = KeyAlgorithm(algorithm)
    if algorithm is KeyAlgorithm.SM2:
        from certsvc.crypto.sm2 import Sm2PublicKey

        return VerifyingKey(algorithm, Sm2PublicKey.from_spki_der(spki_der))
    key = serialization.load_der_public_key(spki_der)
    if (
        algorithm is not KeyAlgorithm.ECDSA_P256
        or not isinstance(key, ec.EllipticCurvePublicKey)
        or not isinstance(key.curve, ec.SECP256R1)
    ):
        raise ValueError(f"not an {algorithm} public key")
    return VerifyingKey(algorithm, key)


def certificate_public_key_spki(certificate_der: bytes) -> bytes:
    """DER SubjectPublicKeyInfo of a certificate (any algorithm, SM2 included)."""
    from asn1crypto import x509 as asn1_x509

    return bytes(
        asn1_x509.Certificate.load(certificate_der)["tbs_certificate"][
            "subject_public_key_info"
        ].dump()
    )


def is_directly_issued_by(certificate_der: bytes, issuer_der: bytes) -> bool:
    """True iff ``issuer``'s key signed ``certificate`` (names and signature; RSA/ECDSA issuers)."""
    try:
        cert = x509.load_der_x509_certificate(certificate_der)
        issuer = x509.load_der_x509_certificate(issuer_der)
        cert.verify_directly_issued_by(issuer)
    except Exception:
        # Security: any failure to prove the link (SM2 issuer, wrong name, bad signature) is "no".
        return False
    return True
