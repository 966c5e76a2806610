"""Signing keys: what every signer in certsvc needs of a key, behind one interface.

PDF sealing (PAdES and the SM2 CMS), GB/T 38540 ``SES_Signature`` structures, signed QR
payloads and signed trust lists all take a :class:`SigningKey`: its algorithm, its certificate
and chain, its public key, and ``sign``. None of them sees where the private key lives.

Backends, each a ``KeySource`` that opens keys by reference:

* :class:`EncryptedKeyFiles` — encrypted PKCS#8 files, decrypted once into a :class:`LoadedKey`
  (the embedded deployment);
* :class:`~certsvc.crypto.pkcs11_keys.Pkcs11Keys` — keys inside a PKCS#11 token, named by
  ``pkcs11:`` references; ``sign`` runs on the token (the private key never leaves it).

:class:`RoutedKeySource` puts them side by side: a reference's scheme (``pkcs11:`` …) picks the
store, and a plain name is a key file. Another store (keys kept in the database for a cluster)
is one more scheme.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

from certsvc.crypto.keys import KeyAlgorithm, SealKey
from certsvc.errors import KeyUnavailableError, SigningError

if TYPE_CHECKING:
    from certsvc.crypto.sm2 import Sm2PublicKey, Sm2Signing

__all__ = [
    "EncryptedKeyFiles",
    "KeySource",
    "LoadedKey",
    "RoutedKeySource",
    "SerialisedKey",
    "SigningKey",
    "sm2_signing",
]


class SigningKey(ABC):
    """A private key that signs as the holder of ``certificate_der``.

    ``sign`` is hash-then-sign over ``message``: RSA PKCS#1 v1.5, ECDSA (DER r, s), or SM2 with
    SM3 and Z over the GM/T 0009 default signer id (DER r, s). Implementations never expose key
    material, and their ``repr`` names the algorithm only.
    """

    @property
    @abstractmethod
    def algorithm(self) -> KeyAlgorithm: ...

    @property
    @abstractmethod
    def certificate_der(self) -> bytes:
        """The signer's certificate (DER)."""

    @property
    @abstractmethod
    def chain_der(self) -> tuple[bytes, ...]:
        """The issuers of the certificate, nearest first, up to and including the root (DER)."""

    @abstractmethod
    def public_key_spki_der(self) -> bytes:
        """SubjectPublicKeyInfo (DER) of the key; the certificate's, by construction."""

    @abstractmethod
    def sign(self, message: bytes, *, digest_algorithm: str) -> bytes:
        """Sign ``message`` with the digest ``digest_algorithm`` (``sha256``; ``sm3`` for SM2).

        Raises:
            SigningError: the digest does not fit the key, or the signature failed.
            KeyUnavailableError: the key is no longer available (closed handle, token removed).
        """

    @property
    def digest_algorithm(self) -> str:
        """The digest this key signs with in certsvc: SM3 for SM2, SHA-256 otherwise."""
        return "sm3" if self.algorithm is KeyAlgorithm.SM2 else "sha256"

    def close(self) -> None:  # noqa: B027 - a key without resources has nothing to release
        """Release the key's resources; it cannot sign afterwards."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(algorithm={self.algorithm.value!r})"


class LoadedKey(SigningKey):
    """A private key held in this process's memory, with its certificate chain."""

    def __init__(
        self, key: SealKey, *, certificate_der: bytes, chain_der: Sequence[bytes] = ()
    ) -> None:
        self._key = key
        self._certificate_der = certificate_der
        self._chain_der = tuple(chain_der)

    @classmethod
    def from_encrypted_pem(
        cls,
        pem: bytes,
        passphrase: bytes,
        *,
        certificate_der: bytes,
        chain_der: Sequence[bytes] = (),
    ) -> LoadedKey:
        """Decrypt an encrypted PKCS#8 PEM.

        Raises:
            KeyUnavailableError: wrong passphrase, damaged file or unsupported algorithm.
        """
        return cls(
            SealKey.from_pem(pem, passphrase), certificate_der=certificate_der, chain_der=chain_der
        )

    @property
    def algorithm(self) -> KeyAlgorithm:
        return self._key.algorithm

    @property
    def certificate_der(self) -> bytes:
        return self._certificate_der

    @property
    def chain_der(self) -> tuple[bytes, ...]:
        return self._chain_der

    def public_key_spki_der(self) -> bytes:
        return self._key.public_key_spki_der()

    def sign(self, message: bytes, *, digest_algorithm: str) -> bytes:
        return self._key.sign(message, digest_algorithm=digest_algorithm)

    def close(self) -> None:
        self._key.close()


class SerialisedKey(SigningKey):
    """``key`` signing one message at a time under ``lock`` (a token session, like a loaded key
    object, is not shared by two threads at once). Only the signature itself is serialised:
    what surrounds it — building the CMS, waiting for a TSA, writing the PDF — runs in
    parallel, so threads sealing with one key do not queue behind each other's TSA round trip."""

    def __init__(self, key: SigningKey, lock: threading.RLock) -> None:
        self._key = key
        self._lock = lock

    @property
    def algorithm(self) -> KeyAlgorithm:
        return self._key.algorithm

    @property
    def certificate_der(self) -> bytes:
        return self._key.certificate_der

    @property
    def chain_der(self) -> tuple[bytes, ...]:
        return self._key.chain_der

    def public_key_spki_der(self) -> bytes:
        return self._key.public_key_spki_der()

    def sign(self, message: bytes, *, digest_algorithm: str) -> bytes:
        with self._lock:
            return self._key.sign(message, digest_algorithm=digest_algorithm)

    def close(self) -> None:
        with self._lock:
            self._key.close()


class KeySource(Protocol):
    """Where signing keys come from: opens the key a seal's ``key_ref`` names."""

    def open(
        self, key_ref: str, *, certificate_der: bytes, chain_der: Sequence[bytes]
    ) -> SigningKey:
        """The key ``key_ref`` names, as the holder of ``certificate_der``.

        Raises:
            KeyUnavailableError: no such key, or it cannot be opened.
        """
        ...


class EncryptedKeyFiles:
    """Keys kept as encrypted PKCS#8 PEM files (the embedded deployment's key store).

    ``read_pem`` returns the stored file of a reference and ``passphrase`` the passphrase; both
    are asked for only when a key is opened, so a deployment without keys starts.
    ``previous_passphrase`` opens the files a passphrase change has not re-encrypted yet.
    """

    def __init__(
        self,
        *,
        read_pem: Callable[[str], bytes],
        passphrase: Callable[[], bytes],
        previous_passphrase: Callable[[], bytes | None] | None = None,
    ) -> None:
        self._read_pem = read_pem
        self._passphrase = passphrase
        self._previous = previous_passphrase

    def open(
        self, key_ref: str, *, certificate_der: bytes, chain_der: Sequence[bytes]
    ) -> SigningKey:
        pem = self._read_pem(key_ref)
        try:
            return LoadedKey.from_encrypted_pem(
                pem, self._passphrase(), certificate_der=certificate_der, chain_der=chain_der
            )
        except KeyUnavailableError:
            previous = self._previous() if self._previous is not None else None
            if previous is None:
                raise
            return LoadedKey.from_encrypted_pem(
                pem, previous, certificate_der=certificate_der, chain_der=chain_der
            )


class RoutedKeySource:
    """Opens each reference in the store its scheme names; references without one are files.

    ``by_scheme`` maps a scheme with its colon (``"pkcs11:"``) to a factory of its source, made
    on first use: a deployment that never names a token never loads a PKCS#11 module.
    """

    def __init__(
        self, *, default: KeySource, by_scheme: Mapping[str, Callable[[], KeySource]]
    ) -> None:
        self._default = default
        self._factories = dict(by_scheme)
        self._sources: dict[str, KeySource] = {}

    def source_for(self, key_ref: str) -> KeySource:
        """The store that holds ``key_ref``.

        Raises:
            KeyUnavailableError: the reference names a scheme this deployment has no store for.
        """
        scheme, sep, _ = key_ref.partition(":")
        if not sep:
            return self._default
        scheme += ":"
        source = self._sources.get(scheme)
        if source is None:
            factory = self._factories.get(scheme)
            if factory is None:
                raise KeyUnavailableError(f"no key store for {scheme} references is configured")
            source = self._sources.setdefault(scheme, factory())
        return source

    def open(
        self, key_ref: str, *, certificate_der: bytes, chain_der: Sequence[bytes]
    ) -> SigningKey:
        return self.source_for(key_ref).open(
            key_ref, certificate_der=certificate_der, chain_der=chain_der
        )


class _Sm2View:
    """A ``SigningKey`` seen as an SM2 signer (``Sm2Signing``) by the SM2 structures' builders."""

    def __init__(self, key: SigningKey) -> None:
        if key.algorithm is not KeyAlgorithm.SM2:
            raise SigningError(f"an SM2 key is needed, not {key.algorithm.value}")
        self._key = key

    def public_key(self) -> Sm2PublicKey:
        from certsvc.crypto.sm2 import Sm2PublicKey

        return Sm2PublicKey.from_spki_der(self._key.public_key_spki_der())

    def sign(self, message: bytes, *, signer_id: bytes | None = None) -> bytes:
        from certsvc.crypto.sm2 import DEFAULT_SIGNER_ID

        # Seal keys sign with the GM/T 0009 default id; a token would not take another one.
        if signer_id not in (None, DEFAULT_SIGNER_ID):
            raise SigningError("seal keys sign with the GM/T 0009-2012 default signer id only")
        return self._key.sign(message, digest_algorithm="sm3")


def sm2_signing(key: SigningKey) -> Sm2Signing:
    """``key`` as the SM2 signer GB/T 38540 structures and the SM2 CMS signer take.

    Raises:
        SigningError: ``key`` is not an SM2 key.
    """
    return _Sm2View(key)
