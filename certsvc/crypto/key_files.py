"""The at-rest form of key files: encrypted PKCS#8 (RFC 5958) under PBES2 with scrypt.

A passphrase-encrypted key is only as strong as the key derivation an attacker with a copy of
the file must repeat per guess. pyca/cryptography and OpenSSL write PBES2 with PBKDF2 at 2,048
iterations; certsvc writes PBES2 with scrypt (RFC 7914 §7: ``id-scrypt`` as the PBES2 key
derivation function) at N = 2^14, r = 8, p = 5 by default, with AES-256-CBC: one of the
equivalent minimums of the OWASP Password Storage Cheat Sheet (N = 2^17, p = 1 is another).
That one, not N = 2^17: OpenSSL opens scrypt key files needing at most 32 MiB (N = 2^17,
r = 8 needs 128 MiB and is refused), and OpenSSL reads the SM2 keys and an operator's
``openssl pkey``. Both pyca/cryptography and OpenSSL's PKCS#8 readers open these files.

Files written before (PBKDF2) stay readable; :func:`rewrap_key_file` moves one to the current
form, checking the result opens before it is handed back. All of it is done on the
encrypted PKCS#8 structure, the same for RSA, ECDSA and SM2 keys.
"""

# ruff: noqa: RUF012 - asn1crypto declares schemas as mutable class attributes (_fields)
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from asn1crypto import core
from asn1crypto import keys as asn1_keys
from asn1crypto import pem as asn1_pem
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from certsvc.errors import KeyUnavailableError

__all__ = [
    "KeyFileKdf",
    "KeyFileProtection",
    "key_file_opens_with",
    "key_file_protection",
    "protect_key_file",
    "rewrap_key_file",
]

_PBES2 = "1.2.840.113549.1.5.13"
_PBKDF2 = "1.2.840.113549.1.5.12"
_SCRYPT = "1.3.6.1.4.1.11591.4.11"  # RFC 7914 §7
_AES_CBC = {
    "2.16.840.1.101.3.4.1.2": 16,
    "2.16.840.1.101.3.4.1.22": 24,
    "2.16.840.1.101.3.4.1.42": 32,
}
_AES256_CBC = "2.16.840.1.101.3.4.1.42"
_PBKDF2_PRFS = {
    "1.2.840.113549.2.7": "sha1",
    "1.2.840.113549.2.9": "sha256",
    "1.2.840.113549.2.10": "sha384",
    "1.2.840.113549.2.11": "sha512",
}
_PEM_LABEL = "ENCRYPTED PRIVATE KEY"


@dataclass(frozen=True, slots=True)
class KeyFileKdf:
    """scrypt's cost for new key files: N = 2 ** log2_n, block size r, parallelism p.

    The memory is 128 * r * N bytes: 16 MiB by default, under OpenSSL's 32 MiB reading limit.
    """

    log2_n: int = 14
    r: int = 8
    p: int = 5

    def __post_init__(self) -> None:
        if not 10 <= self.log2_n <= 14 or not 1 <= self.r <= 8 or not 1 <= self.p <= 64:
            raise ValueError("scrypt parameters out of range")


@dataclass(frozen=True, slots=True)
class KeyFileProtection:
    """How a key file is protected: ``scrypt`` (with its cost) or ``pbkdf2`` (with its count)."""

    kdf: str
    cost: int  # scrypt: log2 N; pbkdf2: iterations
    scrypt_work: int = 0  # N * r * p: what one guess costs an attacker

    def is_at_least(self, wanted: KeyFileKdf) -> bool:
        return (
            self.kdf == "scrypt"
            and self.cost >= wanted.log2_n
            and self.scrypt_work >= (1 << wanted.log2_n) * wanted.r * wanted.p
        )


class _AlgorithmIdentifier(core.Sequence):  # type: ignore[misc]
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _Pbes2Params(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("key_derivation_func", _AlgorithmIdentifier),
        ("encryption_scheme", _AlgorithmIdentifier),
    ]


class _ScryptParams(core.Sequence):  # type: ignore[misc]  # RFC 7914 §7.1
    _fields = [
        ("salt", core.OctetString),
        ("cost_parameter", core.Integer),
        ("block_size", core.Integer),
        ("parallelization_parameter", core.Integer),
        ("key_length", core.Integer, {"optional": True}),
    ]


class _Pbkdf2Params(core.Sequence):  # type: ignore[misc]  # RFC 8018 §A.2
    _fields = [
        ("salt", core.OctetString),
        ("iteration_count", core.Integer),
        ("key_length", core.Integer, {"optional": True}),
        ("prf", _AlgorithmIdentifier, {"optional": True}),
    ]


class _EncryptedPrivateKeyInfo(core.Sequence):  # type: ignore[misc]
    _fields = [("encryption_algorithm", _AlgorithmIdentifier), ("encrypted_data", core.OctetString)]


def _scrypt(passphrase: bytes, salt: bytes, kdf: KeyFileKdf, length: int) -> bytes:
    n = 1 << kdf.log2_n
    # hashlib refuses by default above 32 MiB; scrypt needs 128 * r * N bytes (+ the p blocks).
    return hashlib.scrypt(
        passphrase,
        salt=salt,
        n=n,
        r=kdf.r,
        p=kdf.p,
        dklen=length,
        maxmem=256 * kdf.r * n + (1 << 20),
    )


def protect_key_file(private_key_info_der: bytes, passphrase: bytes, kdf: KeyFileKdf) -> bytes:
    """An unencrypted PKCS#8 ``PrivateKeyInfo`` (DER) as an encrypted PEM key file.

    Raises:
        ValueError: empty passphrase (an unencrypted key file is never written).
    """
    if not passphrase:
        raise ValueError("a non-empty passphrase is required")
    salt, iv = os.urandom(16), os.urandom(16)
    key = _scrypt(passphrase, salt, kdf, 32)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(private_key_info_der) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    params = _ScryptParams(
        {"salt": salt, "cost_parameter": 1 << kdf.log2_n, "block_size": kdf.r, "parallelization_parameter": kdf.p,
         "key_length": 32}
    )  # fmt: skip
    scheme = _Pbes2Params(
        {
            "key_derivation_func": {"algorithm": _SCRYPT, "parameters": params},
            "encryption_scheme": {"algorithm": _AES256_CBC, "parameters": core.OctetString(iv)},
        }
    )
    info = _EncryptedPrivateKeyInfo(
        {
            "encryption_algorithm": {"algorithm": _PBES2, "parameters": scheme},
            "encrypted_data": ciphertext,
        }
    )
    pem: bytes = asn1_pem.armor(_PEM_LABEL, info.dump())
    return pem


def _parse(pem: bytes) -> tuple[_EncryptedPrivateKeyInfo, _Pbes2Params]:
    try:
        label, _, der = asn1_pem.unarmor(pem)
        if label != _PEM_LABEL:
            raise ValueError(label)
        info = _EncryptedPrivateKeyInfo.load(der)
        algorithm = info["encryption_algorithm"]
        if algorithm["algorithm"].dotted != _PBES2:
            raise ValueError("not PBES2")
        return info, _Pbes2Params.load(algorithm["parameters"].dump())
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyUnavailableError("the key file is not an encrypted PKCS#8 (PBES2) key") from exc


def key_file_protection(pem: bytes) -> KeyFileProtection:
    """How ``pem`` is protected (read from its header; no passphrase needed).

    Raises:
        KeyUnavailableError: not a PBES2-encrypted PKCS#8 key file.
    """
    _, scheme = _parse(pem)
    kdf = scheme["key_derivation_func"]
    oid = kdf["algorithm"].dotted
    if oid == _SCRYPT:
        params = _ScryptParams.load(kdf["parameters"].dump())
        n = params["cost_parameter"].native
        work = n * params["block_size"].native * params["parallelization_parameter"].native
        return KeyFileProtection("scrypt", n.bit_length() - 1, work)
    if oid == _PBKDF2:
        return KeyFileProtection(
            "pbkdf2", _Pbkdf2Params.load(kdf["parameters"].dump())["iteration_count"].native
        )
    raise KeyUnavailableError("the key file's key derivation is neither scrypt nor PBKDF2")


def _decrypt(pem: bytes, passphrase: bytes) -> bytes:
    """The ``PrivateKeyInfo`` DER inside ``pem``, or None-like failure as KeyUnavailableError."""
    info, scheme = _parse(pem)
    cipher_id = scheme["encryption_scheme"]["algorithm"].dotted
    length = _AES_CBC.get(cipher_id)
    if length is None:
        raise KeyUnavailableError("the key file's cipher is not AES-CBC")
    iv = core.OctetString.load(scheme["encryption_scheme"]["parameters"].dump()).native
    kdf = scheme["key_derivation_func"]
    if kdf["algorithm"].dotted == _SCRYPT:
        params = _ScryptParams.load(kdf["parameters"].dump())
        cost = KeyFileKdf(
            params["cost_parameter"].native.bit_length() - 1,
            params["block_size"].native,
            params["parallelization_parameter"].native,
        )
        key = _scrypt(passphrase, params["salt"].native, cost, length)
    elif kdf["algorithm"].dotted == _PBKDF2:
        params = _Pbkdf2Params.load(kdf["parameters"].dump())
        prf = "1.2.840.113549.2.7" if not params["prf"] else params["prf"]["algorithm"].dotted
        if prf not in _PBKDF2_PRFS:
            raise KeyUnavailableError("the key file's PBKDF2 hash is not supported")
        key = hashlib.pbkdf2_hmac(
            _PBKDF2_PRFS[prf],
            passphrase,
            params["salt"].native,
            params["iteration_count"].native,
            length,
        )
    else:
        raise KeyUnavailableError("the key file's key derivation is neither scrypt nor PBKDF2")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    try:
        padded = decryptor.update(info["encrypted_data"].native) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        der = unpadder.update(padded) + unpadder.finalize()
        # The padding check alone passes for 1 wrong passphrase in ~256: the structure must parse.
        _ = asn1_keys.PrivateKeyInfo.load(der, strict=True)["private_key_algorithm"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise KeyUnavailableError("the key file cannot be opened with this passphrase") from exc
    return der


def key_file_opens_with(pem: bytes, passphrase: bytes) -> bool:
    """Whether ``passphrase`` opens ``pem`` (one key derivation at the file's own cost)."""
    try:
        _decrypt(pem, passphrase)
    except KeyUnavailableError:
        return False
    return True


def rewrap_key_file(
    pem: bytes, *, passphrases: list[bytes], new_passphrase: bytes, kdf: KeyFileKdf
) -> bytes:
    """``pem`` encrypted again under ``new_passphrase`` with scrypt at ``kdf``.

    ``passphrases`` are tried in order (the current one, then the one before a change).

    Raises:
        KeyUnavailableError: no passphrase opens the file, or it is not an encrypted PKCS#8 key.
    """
    for passphrase in passphrases:
        try:
            der = _decrypt(pem, passphrase)
        except KeyUnavailableError:
            continue
        return protect_key_file(der, new_passphrase, kdf)
    raise KeyUnavailableError("the key file opens with none of the configured passphrases")
