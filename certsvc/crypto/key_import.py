"""Importing seal keys and certificates made elsewhere, and checking detached signatures.

Kept apart from ``keys.py`` and ``certificates.py`` so the import path (PEM from an outside CA or
制章机构) has one small, reviewable surface.
"""

from __future__ import annotations

from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from certsvc.crypto.key_files import KeyFileKdf, protect_key_file, rewrap_key_file
from certsvc.errors import InvalidDocumentError, KeyUnavailableError

__all__ = [
    "certificate_spki_der",
    "certificates_from_pem",
    "reencrypt_private_key_pem",
    "verify_detached",
]


def reencrypt_private_key_pem(
    pem: bytes,
    *,
    source_passphrase: bytes | None,
    target_passphrase: bytes,
    kdf: KeyFileKdf | None = None,
) -> bytes:
    """Load an imported private key (encrypted or not) and return it as a certsvc key file
    (PBES2 with scrypt at ``kdf``, :mod:`certsvc.crypto.key_files`).

    Raises:
        KeyUnavailableError: not a readable private key, or the passphrase is wrong.
    """
    if not target_passphrase:
        # Security: key files at rest are always encrypted.
        raise KeyUnavailableError("a key passphrase is required to store an imported key")
    try:
        key = serialization.load_pem_private_key(pem, password=source_passphrase or None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        key = None
    if isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        der = key.private_bytes(
            encoding=serialization.Encoding.DER,
            format=serialization.PrivateFormat.PKCS8,
            encryption_algorithm=serialization.NoEncryption(),
        )
        return protect_key_file(der, target_passphrase, kdf or KeyFileKdf())
    try:
        from certsvc.crypto import sm2

        sm2_key = sm2.Sm2PrivateKey.from_pem(pem, source_passphrase or None)
    except Exception as exc:
        raise KeyUnavailableError(
            "the imported key cannot be read (wrong passphrase or not a private key)"
        ) from exc
    pem = sm2_key.to_pem(target_passphrase)
    return rewrap_key_file(
        pem,
        passphrases=[target_passphrase],
        new_passphrase=target_passphrase,
        kdf=kdf or KeyFileKdf(),
    )


def certificates_from_pem(data: bytes) -> list[bytes]:
    """DER certificates from a PEM bundle (or a single DER certificate), in file order.

    Raises:
        InvalidDocumentError: no certificate in the data.
    """
    if asn1_pem.detect(data):
        ders = [
            der
            for kind, _headers, der in asn1_pem.unarmor(data, multiple=True)
            if kind == "CERTIFICATE"
        ]
    else:
        ders = [data]
    if not ders:
        raise InvalidDocumentError("no certificate found in the PEM data")
    for der in ders:
        try:
            asn1_x509.Certificate.load(der, strict=True)
        except (ValueError, TypeError) as exc:
            raise InvalidDocumentError("not an X.509 certificate") from exc
    return ders


def certificate_spki_der(der: bytes) -> bytes:
    """SubjectPublicKeyInfo DER of a certificate (to check that an imported key belongs to it).

    Raises:
        InvalidDocumentError: not a DER certificate.
    """
    try:
        return bytes(asn1_x509.Certificate.load(der, strict=True).public_key.dump())
    except (ValueError, TypeError) as exc:
        raise InvalidDocumentError("not an X.509 certificate") from exc


def verify_detached(spki_der: bytes, signature: bytes, message: bytes) -> bool:
    """Check a signature made by ``SealKey.sign`` (SHA-256 for RSA/ECDSA, SM3 for SM2)."""
    try:
        public = serialization.load_der_public_key(spki_der)
    except (ValueError, UnsupportedAlgorithm):
        public = None
    try:
        if isinstance(public, ec.EllipticCurvePublicKey):
            public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            return True
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(signature, message, padding.PKCS1v15(), hashes.SHA256())
            return True
    except InvalidSignature:
        return False
    try:
        from certsvc.crypto import sm2

        return bool(sm2.Sm2PublicKey.from_spki_der(spki_der).verify(signature, message))
    except Exception:
        return False
