"""Seal keys: generation, encrypted PEM storage and a loaded, reusable signing handle.

A :class:`SealKey` is opened once (the PBKDF2 work of an encrypted PKCS#8 file and, for RSA,
the key consistency checks are the expensive part) and then signs many documents. It never
shows key material: ``repr`` names the algorithm only, and it refuses to be pickled so that a
key cannot travel into a log, a cache or another process by accident.

SM2 is delegated to :mod:`certsvc.crypto.sm2` (imported lazily), so RSA/ECDSA work even where
the SM2 backend is missing.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, NoReturn

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from certsvc.crypto.key_files import KeyFileKdf, protect_key_file, rewrap_key_file
from certsvc.errors import KeyUnavailableError, SigningError

if TYPE_CHECKING:
    from certsvc.crypto.sm2 import Sm2PrivateKey

__all__ = ["KeyAlgorithm", "SealKey", "generate_private_key_pem"]

# NIST SP 800-57 Part 1 Rev. 5 Table 2: RSA-3072 ~ 128-bit security, the same level as P-256.
_RSA_BITS = 3072
_RSA_PUBLIC_EXPONENT = 65537

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class KeyAlgorithm(StrEnum):
    RSA_3072 = "rsa-3072"
    ECDSA_P256 = "ecdsa-p256"
    SM2 = "sm2"


def _sm2_module() -> object:
    """Import the SM2 backend on first use; a clear error if it is not installed."""
    try:
        from certsvc.crypto import sm2
    except ImportError as exc:
        raise KeyUnavailableError("SM2 support is not available in this installation") from exc
    return sm2


def generate_private_key_pem(
    algorithm: KeyAlgorithm, passphrase: bytes, *, kdf: KeyFileKdf | None = None
) -> bytes:
    """A new private key as an encrypted PKCS#8 PEM key file (PBES2 with scrypt at ``kdf``,
    by default OWASP's minimum: :mod:`certsvc.crypto.key_files`).

    Raises:
        ValueError: empty passphrase (an unencrypted key file is never written).
        KeyUnavailableError: SM2 requested but the SM2 backend is missing.
    """
    if not passphrase:
        # Security: key files at rest are always encrypted.
        raise ValueError("a non-empty passphrase is required")
    algorithm = KeyAlgorithm(algorithm)
    if algorithm is KeyAlgorithm.SM2:
        sm2 = _sm2_module()
        key = sm2.Sm2PrivateKey.generate()  # type: ignore[attr-defined]
        pem: bytes = key.to_pem(passphrase)
        return rewrap_key_file(
            pem, passphrases=[passphrase], new_passphrase=passphrase, kdf=kdf or KeyFileKdf()
        )
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm is KeyAlgorithm.RSA_3072:
        private = rsa.generate_private_key(public_exponent=_RSA_PUBLIC_EXPONENT, key_size=_RSA_BITS)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
    der = private.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
    return protect_key_file(der, passphrase, kdf or KeyFileKdf())


def _algorithm_of(key: object) -> KeyAlgorithm:
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size != _RSA_BITS:
            # Policy: seal keys are RSA-3072 exactly; smaller keys are too weak, other sizes
            # would make the reserved signature size wrong.
            raise KeyUnavailableError(f"unsupported RSA key size {key.key_size}")
        return KeyAlgorithm.RSA_3072
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise KeyUnavailableError(f"unsupported EC curve {key.curve.name}")
        return KeyAlgorithm.ECDSA_P256
    raise KeyUnavailableError("unsupported private key type")


class SealKey:
    """A loaded private key; create with :meth:`from_pem` (or :meth:`generate` in tests)."""

    __slots__ = ("_algorithm", "_key", "_spki")

    def __init__(self, *, _key: object, _algorithm: KeyAlgorithm) -> None:
        # Private constructor: callers go through from_pem so that every handle is validated.
        self._key: object | None = _key
        self._algorithm = _algorithm
        self._spki: bytes | None = None

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def from_pem(cls, pem: bytes, passphrase: bytes) -> SealKey:
        """Decrypt and load an encrypted PKCS#8 PEM.

        Raises:
            KeyUnavailableError: wrong passphrase, not a key, or an unsupported algorithm.
                The message never contains key bytes or the passphrase.
        """
        if not isinstance(pem, bytes) or b"-----BEGIN" not in pem:
            raise KeyUnavailableError("the seal key file is not a PEM private key")
        try:
            key = serialization.load_pem_private_key(pem, password=passphrase or None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            # SM2 PKCS#8 is opaque to pyca/cryptography (no SM2 curve); try the SM2 backend
            # before giving up. A wrong passphrase fails there too.
            sm2_key = cls._try_sm2(pem, passphrase)
            if sm2_key is None:
                raise KeyUnavailableError(
                    "the seal key cannot be loaded (wrong passphrase or damaged key file)"
                ) from exc
            return sm2_key
        return cls(_key=key, _algorithm=_algorithm_of(key))

    @classmethod
    def _try_sm2(cls, pem: bytes, passphrase: bytes) -> SealKey | None:
        try:
            from certsvc.crypto import sm2
        except ImportError:
            return None
        try:
            key = sm2.Sm2PrivateKey.from_pem(pem, passphrase)
        except Exception:
            return None
        return cls(_key=key, _algorithm=KeyAlgorithm.SM2)

    @classmethod
    def generate(cls, algorithm: KeyAlgorithm) -> SealKey:
        """A fresh in-memory key (development PKI and tests; production keys come from PEM)."""
        algorithm = KeyAlgorithm(algorithm)
        if algorithm is KeyAlgorithm.SM2:
            sm2 = _sm2_module()
            return cls(_key=sm2.Sm2PrivateKey.generate(), _algorithm=algorithm)  # type: ignore[attr-defined]
        if algorithm is KeyAlgorithm.RSA_3072:
            key: object = rsa.generate_private_key(
                public_exponent=_RSA_PUBLIC_EXPONENT, key_size=_RSA_BITS
            )
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        return cls(_key=key, _algorithm=algorithm)

    # --- use -------------------------------------------------------------------------------
    @property
    def algorithm(self) -> KeyAlgorithm:
        return self._algorithm

    def public_key_spki_der(self) -> bytes:
        """SubjectPublicKeyInfo DER of the public half (cached: it is asked for per signature)."""
        if self._spki is None:
            key = self._live()
            if self._algorithm is KeyAlgorithm.SM2:
                self._spki = key.public_key().to_spki_der()  # type: ignore[attr-defined]
            else:
                self._spki = key.public_key().public_bytes(  # type: ignore[attr-defined]
                    serialization.Encoding.DER,
                    serialization.PublicFormat.SubjectPublicKeyInfo,
                )
        return self._spki

    def sign(self, message: bytes, *, digest_algorithm: str = "sha256") -> bytes:
        """Sign ``message`` (hash-then-sign). RSA: PKCS#1 v1.5; ECDSA: DER (r, s);
        SM2: GM/T 0003.2 with SM3 and Z over the default ID, DER (r, s).

        Raises:
            SigningError: the digest does not fit the key, or the primitive failed.
            KeyUnavailableError: the handle was closed.
        """
        key = self._live()
        try:
            if self._algorithm is KeyAlgorithm.SM2:
                if digest_algorithm != "sm3":
                    raise SigningError("SM2 seal keys sign with SM3 only")
                signature: bytes = key.sign(message)  # type: ignore[attr-defined]
                return signature
            hash_cls = _HASHES.get(digest_algorithm)
            if hash_cls is None:
                raise SigningError(f"digest {digest_algorithm!r} is not allowed for seal keys")
            if isinstance(key, rsa.RSAPrivateKey):
                return key.sign(message, padding.PKCS1v15(), hash_cls())
            assert isinstance(key, ec.EllipticCurvePrivateKey)
            return key.sign(message, ec.ECDSA(hash_cls()))
        except SigningError:
            raise
        except Exception as exc:
            raise SigningError(f"{self._algorithm} signature failed") from exc

    def close(self) -> None:
        """Drop the key reference (the memory is reclaimed by the backend's allocator)."""
        self._key = None

    def __enter__(self) -> SealKey:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        # Security: only the algorithm, never key material or where the key came from.
        return f"SealKey(algorithm={self._algorithm.value!r})"

    __str__ = __repr__

    def __reduce__(self) -> NoReturn:
        # Security: a pickled key would be an unencrypted copy of the private key.
        raise TypeError("SealKey cannot be pickled; load the key in each process")

    # --- inside certsvc.crypto only --------------------------------------------------------
    def _live(self) -> object:
        if self._key is None:
            raise KeyUnavailableError("the seal key handle is closed")
        return self._key

    def _pyca_key(self) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
        """The pyca/cryptography key object (RSA/ECDSA), for x509 builders in this package."""
        key = self._live()
        if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise SigningError(f"{self._algorithm} keys have no pyca/cryptography form")
        return key

    def _sm2_key(self) -> Sm2PrivateKey:
        """The SM2 backend's key object, for the SM2 certificate builder and Sm2Signer."""
        if self._algorithm is not KeyAlgorithm.SM2:
            raise SigningError("not an SM2 key")
        return self._live()  # type: ignore[return-value]
