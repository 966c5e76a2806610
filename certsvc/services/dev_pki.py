"""The development PKI: the key passphrase kept beside the keys, and per key family a root and
a seal-issuing CA, made once by ``certsvc init`` and refused in production."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from certsvc.config import Environment
from certsvc.crypto import api as crypto
from certsvc.errors import (
    BadRequestError,
    ConfigurationError,
    KeyUnavailableError,
)
from certsvc.services.context import ServiceContext

__all__ = [
    "DEV_CA_FAMILY",
    "DevCa",
    "dev_ca",
    "ensure_dev_ca",
    "ensure_dev_passphrase",
    "new_stored_key",
]

# Which development CA issues a seal of each algorithm: RSA seals share the ECDSA CA.
DEV_CA_FAMILY = {
    crypto.KeyAlgorithm.RSA_3072: "ecdsa",
    crypto.KeyAlgorithm.ECDSA_P256: "ecdsa",
    crypto.KeyAlgorithm.SM2: "sm2",
}


@dataclass(frozen=True)
class DevCa:
    """A development seal-issuing CA: its certificate, its chain up to the root, and its key."""

    family: str
    root_der: bytes
    ca_der: bytes
    ca_key: crypto.SealKey


def ensure_dev_passphrase(ctx: ServiceContext) -> None:
    """In development, generate the key passphrase once and keep it beside the keys (mode 0600)."""
    if ctx.settings.key_passphrase is not None:
        return
    if ctx.settings.env is Environment.PRODUCTION:
        raise ConfigurationError("CERTSVC_KEY_PASSPHRASE must be set in production")
    path = ctx.settings.dev_passphrase_file
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_urlsafe(32))


def _dev_ca_refs(ctx: ServiceContext, algorithm: crypto.KeyAlgorithm) -> tuple[str, Path, Path]:
    family = DEV_CA_FAMILY[algorithm]
    return (
        family,
        ctx.trust_roots_dir / f"dev-root-{family}.der",
        ctx.pki_dir / f"dev-seal-ca-{family}.der",
    )


def _refuse_in_production(ctx: ServiceContext) -> None:
    if ctx.settings.env is Environment.PRODUCTION:
        raise BadRequestError(
            "production has no development PKI: import seals made by the seal-making authority "
            "(key_pem and certificate_pem) instead",
            code="development_pki_disabled",
        )


def ensure_dev_ca(ctx: ServiceContext, algorithm: crypto.KeyAlgorithm) -> DevCa:
    """Create (once) the development root and seal-issuing CA for ``algorithm``'s family.

    Only ``certsvc init`` calls this: a trust root is never made as a side effect of a request.

    Raises:
        BadRequestError: in production (code ``development_pki_disabled``).
    """
    _refuse_in_production(ctx)
    family, root_file, ca_file = _dev_ca_refs(ctx, algorithm)
    ca_algorithm = crypto.KeyAlgorithm.SM2 if family == "sm2" else crypto.KeyAlgorithm.ECDSA_P256
    if not root_file.exists():
        now = ctx.clock.now()
        root_key = new_stored_key(ctx, f"dev-root-{family}", ca_algorithm)
        root_der = crypto.make_root_ca(
            key=root_key,
            common_name=f"certsvc Development Root CA ({family.upper()})",
            organization="certsvc 开发测试根证书",
            not_before=now - timedelta(minutes=5),
            not_after=now + timedelta(days=3650 * 2),
        )
        ca_key = new_stored_key(ctx, f"dev-seal-ca-{family}", ca_algorithm)
        ca_der = crypto.make_intermediate_ca(
            key=ca_key,
            issuer_key=root_key,
            issuer_certificate_der=root_der,
            common_name=f"certsvc Development Seal CA ({family.upper()})",
            organization="certsvc 电子印章制章机构（开发）",
            not_before=now - timedelta(minutes=5),
            not_after=now + timedelta(days=3650),
        )
        ctx.pki_dir.mkdir(parents=True, exist_ok=True)
        ctx.trust_roots_dir.mkdir(parents=True, exist_ok=True)
        ca_file.write_bytes(ca_der)
        root_file.write_bytes(root_der)  # written last: its presence marks a complete CA
    return dev_ca(ctx, algorithm)


def dev_ca(ctx: ServiceContext, algorithm: crypto.KeyAlgorithm) -> DevCa:
    """The development seal-issuing CA that ``certsvc init`` made; never creates one.

    Raises:
        BadRequestError: in production (code ``development_pki_disabled``).
        KeyUnavailableError: ``certsvc init`` has not made it.
    """
    _refuse_in_production(ctx)
    family, root_file, ca_file = _dev_ca_refs(ctx, algorithm)
    if not root_file.exists():
        raise KeyUnavailableError(f"no development {family.upper()} CA: run `certsvc init`")
    ca_key = ctx.open_key_file(f"dev-seal-ca-{family}")
    return DevCa(
        family=family, root_der=root_file.read_bytes(), ca_der=ca_file.read_bytes(), ca_key=ca_key
    )


def new_stored_key(ctx: ServiceContext, ref: str, algorithm: crypto.KeyAlgorithm) -> crypto.SealKey:
    """Generate a key, store it encrypted under ``ref`` in the key store, and open it."""
    pem = crypto.generate_private_key_pem(algorithm, ctx.passphrase(), kdf=ctx.key_file_kdf)
    ctx.keys.put(ref, pem)
    return crypto.SealKey.from_pem(pem, ctx.passphrase())
