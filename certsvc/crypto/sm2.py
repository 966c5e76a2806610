"""SM2 signatures and SM3 digests: the public API the rest of certsvc codes against.

* SM3: GB/T 32905-2016 / GM/T 0004-2012 (via pyca/cryptography ``hashes.SM3``).
* SM2 signature: GB/T 32918.2-2016 / GM/T 0003.2-2012 on the curve sm2p256v1
  (OID 1.2.156.10197.1.301), message digest ``e = SM3(Z_A || M)`` with
  ``Z_A`` computed over the signer's distinguishing ID (GM/T 0009-2012 §10: default ID
  ``"1234567812345678"``), signature value encoded as DER ``SEQUENCE { r INTEGER, s INTEGER }``
  (GM/T 0009-2012 §7.3).

The arithmetic runs in OpenSSL 3 (:mod:`certsvc.crypto._sm2_openssl`); nonces always come from
OpenSSL's CSPRNG. Keys are handles: use ``with Sm2PrivateKey.from_pem(...) as key:`` or
:meth:`Sm2PrivateKey.close` to free the native key early.
"""

from __future__ import annotations

from types import TracebackType
from typing import NoReturn, Protocol

from asn1crypto import algos
from cryptography.hazmat.primitives import hashes

from certsvc.crypto import _sm2_openssl as _backend

__all__ = [
    "DEFAULT_SIGNER_ID",
    "SM2_SIGNATURE_PLACEHOLDER_SIZE",
    "Sm2PrivateKey",
    "Sm2PublicKey",
    "Sm2Signing",
    "sm3",
]

# GM/T 0009-2012 §10: default user distinguishing ID (16 bytes → ENTL = 0x0080).
DEFAULT_SIGNER_ID: bytes = b"1234567812345678"

# Largest DER SEQUENCE{r,s} for a 256-bit order: 2 + 2*(2 + 33) = 72 bytes.
SM2_SIGNATURE_PLACEHOLDER_SIZE = 72

_ORDER_BYTES = 32  # sm2p256v1: n < 2^256


def sm3(data: bytes) -> bytes:
    """SM3 digest (GB/T 32905-2016), 32 bytes."""
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def _check_id(signer_id: bytes) -> None:
    # GB/T 32918.2 §5.5: ENTL_A is two bytes holding the ID length in *bits* → < 8192 bytes.
    if not isinstance(signer_id, bytes) or len(signer_id) >= 8192:
        raise ValueError("signer_id must be bytes shorter than 8192 bytes")


class Sm2PublicKey:
    """An SM2 public key (immutable)."""

    __slots__ = ("_handle", "_spki")

    def __init__(self, _handle: _backend.PKeyHandle, _spki: bytes) -> None:
        # Private constructor: use from_spki_der() or Sm2PrivateKey.public_key().
        self._handle = _handle
        self._spki = _spki

    @classmethod
    def from_spki_der(cls, der: bytes) -> Sm2PublicKey:
        """Load from a DER SubjectPublicKeyInfo; raises ValueError if it is not an SM2 key."""
        handle = _backend.load_public_spki(bytes(der))
        return cls(handle, _backend.public_to_spki(handle))

    def to_spki_der(self) -> bytes:
        """DER SubjectPublicKeyInfo: id-ecPublicKey + namedCurve 1.2.156.10197.1.301."""
        return self._spki

    def verify(
        self, signature: bytes, message: bytes, *, signer_id: bytes = DEFAULT_SIGNER_ID
    ) -> bool:
        """True iff ``signature`` (DER or raw 64-byte r||s) is valid over ``message``.

        Never raises for a bad or malformed signature; raises :class:`SigningError` when the
        library cannot set up a verification (a failure to evaluate, not a forgery).
        """
        _check_id(signer_id)
        if not isinstance(signature, (bytes, bytearray)) or not signature:
            return False
        signature = bytes(signature)
        # Fast path: OpenSSL itself insists on strict DER (it re-encodes and compares).
        if signature[0] == 0x30 and _backend.verify_sm3(
            self._handle, signature, message, signer_id
        ):
            return True
        # Raw r||s (also when those 64 bytes happen to start with 0x30).
        if len(signature) == 2 * _ORDER_BYTES:
            r = int.from_bytes(signature[:_ORDER_BYTES], "big")
            s = int.from_bytes(signature[_ORDER_BYTES:], "big")
            raw_der = algos.DSASignature({"r": r, "s": s}).dump(force=True)
            return _backend.verify_sm3(self._handle, raw_der, message, signer_id)
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sm2PublicKey) and other._spki == self._spki

    def __hash__(self) -> int:
        return hash(self._spki)

    def __repr__(self) -> str:
        return f"<Sm2PublicKey sm3={sm3(self._spki)[:8].hex()}>"


class Sm2Signing(Protocol):
    """What an SM2 signer needs: an ``Sm2PrivateKey``, or a key behind another interface."""

    def public_key(self) -> Sm2PublicKey: ...

    def sign(self, message: bytes, *, signer_id: bytes = DEFAULT_SIGNER_ID) -> bytes: ...


class Sm2PrivateKey:
    """An SM2 private key held by OpenSSL. Never printed, never logged."""

    __slots__ = ("_handle", "_public")

    def __init__(self, _handle: _backend.PKeyHandle) -> None:
        # Private constructor: use generate() or from_pem().
        self._handle = _handle
        self._public: Sm2PublicKey | None = None

    @classmethod
    def generate(cls) -> Sm2PrivateKey:
        """A new key pair from OpenSSL's CSPRNG."""
        return cls(_backend.generate_sm2())

    @classmethod
    def from_pem(cls, pem: bytes, passphrase: bytes | None) -> Sm2PrivateKey:
        """Load a PKCS#8 PEM key, encrypted (passphrase required) or not.

        Raises:
            KeyUnavailableError: wrong or missing passphrase, damaged file, not an SM2 key.
        """
        return cls(_backend.load_private_pem(bytes(pem), passphrase))

    def to_pem(self, passphrase: bytes) -> bytes:
        """Encrypted PKCS#8 PEM (PBES2 / PBKDF2-HMAC-SHA256 / AES-256-CBC)."""
        return _backend.private_to_pem(self._handle, passphrase)

    def public_key(self) -> Sm2PublicKey:
        if self._public is None:
            spki = _backend.public_to_spki(self._handle)
            self._public = Sm2PublicKey(_backend.load_public_spki(spki), spki)
        return self._public

    def sign(self, message: bytes, *, signer_id: bytes = DEFAULT_SIGNER_ID) -> bytes:
        """SM2 signature over ``message``: e = SM3(Z_A || M) (GM/T 0009-2012 §8), DER r,s.

        Raises:
            SigningError: OpenSSL failed.
            KeyUnavailableError: the key has been closed.
        """
        _check_id(signer_id)
        return _backend.sign_sm3(self._handle, bytes(message), signer_id)

    def close(self) -> None:
        """Free the native key now (the object is unusable afterwards)."""
        self._handle.close()

    def __enter__(self) -> Sm2PrivateKey:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        # Security: identify by public key only; never key material.
        try:
            return f"<Sm2PrivateKey public={self.public_key()!r}>"
        except Exception:
            return "<Sm2PrivateKey (closed)>"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        raise TypeError("Sm2PrivateKey cannot be pickled; store it with to_pem()")
