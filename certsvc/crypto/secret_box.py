"""Secrets the service must read back (webhook HMAC keys), encrypted at rest with AES-256-GCM.

A hash cannot be used for a key the service signs with, so the database holds the secret
encrypted under a key derived from the deployment's key passphrase — the one secret that
already protects every private key at rest (``CERTSVC_KEY_PASSPHRASE``), and which is kept
outside the database. A copy of the database alone reveals no secret.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from certsvc.errors import KeyUnavailableError

__all__ = ["SecretBox"]

_VERSION = "v1"
_NONCE_BYTES = 12  # NIST SP 800-38D: 96-bit nonces, random per encryption
# scrypt (RFC 7914) because the passphrase is a password, not a key; 2^15 × 8 × 128 B = 32 MiB,
# about 0.1 s, paid once per process.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**15, 8, 1


class SecretBox:
    """Encrypts short text secrets for one purpose; a box of another purpose cannot open them."""

    def __init__(self, key: bytes, purpose: str) -> None:
        self._aead = AESGCM(key)
        self._aad = f"certsvc/{purpose}/{_VERSION}".encode()

    @classmethod
    def from_passphrase(cls, passphrase: bytes, *, purpose: str) -> SecretBox:
        # The salt separates purposes; the passphrase is the deployment's own.
        kdf = Scrypt(
            salt=f"certsvc/{purpose}".encode(), length=32, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P
        )
        return cls(kdf.derive(passphrase), purpose)

    def seal(self, secret: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode("utf-8"), self._aad)
        return f"{_VERSION}:{base64.b64encode(nonce + sealed).decode()}"

    def open(self, token: str) -> str:
        """The secret inside ``token``.

        Raises:
            KeyUnavailableError: not made by this box (another passphrase or purpose) or damaged.
        """
        version, _, body = token.partition(":")
        try:
            if version != _VERSION:
                raise ValueError(version)
            raw = base64.b64decode(body, validate=True)
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], self._aad).decode(
                "utf-8"
            )
        except (ValueError, InvalidTag) as exc:
            raise KeyUnavailableError(
                "a stored secret cannot be decrypted with this key passphrase"
            ) from exc

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"
