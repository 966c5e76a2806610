"""The key that signs the QR trust list: provisioned by an operator, only loaded by requests.

The list is fetched by anyone (``GET /api/v1/trust/keys``), so serving it must never create a
key or a trust root: the signer is made by ``certsvc init`` in development (a certificate from
the development root) or imported by ``certsvc trust import-signer`` from the deployment's own
CA in production. Until then the list is unavailable (503 ``key_unavailable``).

The signer's certificate must be issued directly by a trust root (or be one): that is what an
offline verifier checks against its anchors (``parse_trust_list``).
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from datetime import timedelta

from certsvc.config import Environment
from certsvc.crypto import api as crypto
from certsvc.errors import KeyUnavailableError, ValidationFailedError
from certsvc.services.context import ServiceContext

__all__ = [
    "TRUST_SIGNER_REF",
    "TrustListSigner",
    "import_trust_signer",
    "load_trust_signer",
    "provision_dev_trust_signer",
    "use_token_trust_signer",
]

TRUST_SIGNER_REF = "trust-list-signer"
_CHAIN_FILE = "trust-list-signer.json"
_SIGNER_ALGORITHMS = (crypto.KeyAlgorithm.ECDSA_P256, crypto.KeyAlgorithm.SM2)


@dataclass(frozen=True)
class TrustListSigner:
    key: crypto.SigningKey | crypto.SealKey  # a key file, or a key in a PKCS#11 token
    chain_der: tuple[bytes, ...]  # the signer's certificate first, then its issuer


def _chain_path(ctx: ServiceContext) -> str:
    return str(ctx.pki_dir / _CHAIN_FILE)


def _store(
    ctx: ServiceContext,
    encrypted_pem: bytes | None,
    chain_der: list[bytes],
    *,
    key_ref: str | None = None,
) -> None:
    """Keep the signer: a new key file (``encrypted_pem``), or a token key named by ``key_ref``."""
    ctx.pki_dir.mkdir(parents=True, exist_ok=True)
    if encrypted_pem is not None:
        ctx.keys.put(TRUST_SIGNER_REF, encrypted_pem)
    body: dict[str, object] = {"chain": [base64.b64encode(c).decode() for c in chain_der]}
    if key_ref is not None:
        body["key_ref"] = key_ref
    tmp = ctx.pki_dir / f"{_CHAIN_FILE}.new"
    tmp.write_text(json.dumps(body, indent=2))
    tmp.replace(ctx.pki_dir / _CHAIN_FILE)  # which key signs changes at once, never half-way
    ctx.forget_loaded(TRUST_SIGNER_REF)


def provision_dev_trust_signer(
    ctx: ServiceContext, *, root_key: crypto.SealKey, root_der: bytes
) -> bool:
    """Development: make the signer once, certified by the development root. True if made now."""
    if ctx.settings.env is Environment.PRODUCTION:
        raise KeyUnavailableError(
            "production has no development trust-list signer: run `certsvc trust import-signer`"
        )
    if ctx.keys.exists(TRUST_SIGNER_REF):
        return False
    now = ctx.clock.now()
    pem = crypto.generate_private_key_pem(
        crypto.KeyAlgorithm.ECDSA_P256, ctx.passphrase(), kdf=ctx.key_file_kdf
    )
    with crypto.SealKey.from_pem(pem, ctx.passphrase()) as key:
        cert = crypto.make_list_signer_certificate(
            key=key,
            common_name="certsvc Development Trust List Signer",
            organization="certsvc 开发测试信任列表签名",
            issuer_certificate_der=root_der,
            issuer_key=root_key,
            not_before=now - timedelta(minutes=5),
            not_after=now + timedelta(days=3650),
        )
    _store(ctx, pem, [cert, root_der])
    return True


def import_trust_signer(
    ctx: ServiceContext, *, key_pem: bytes, certificate_pem: bytes, key_passphrase: bytes | None
) -> crypto.CertificateInfo:
    """Install a trust-list signing key and its certificate chain (signer first) made elsewhere.

    Raises:
        KeyUnavailableError: the key cannot be read with ``key_passphrase``.
        InvalidDocumentError: the certificate PEM has no certificate.
        ValidationFailedError: the key does not belong to the certificate, an unsupported
            algorithm, a certificate that no configured trust root issued, or a signer exists.
    """
    chain = crypto.certificates_from_pem(certificate_pem)
    stored = crypto.reencrypt_private_key_pem(
        key_pem,
        source_passphrase=key_passphrase,
        target_passphrase=ctx.passphrase(),
        kdf=ctx.key_file_kdf,
    )
    with crypto.SealKey.from_pem(stored, ctx.passphrase()) as key:
        problems = []
        if key.public_key_spki_der() != crypto.certificate_spki_der(chain[0]):
            problems.append(
                {"field": "key", "problem": "public key differs from the certificate's"}
            )
        if key.algorithm not in _SIGNER_ALGORITHMS:
            problems.append({"field": "key", "problem": "an ECDSA P-256 or SM2 key"})
    roots = ctx.trust_roots()
    if not any(chain[0] == r or crypto.is_directly_issued_by(chain[0], r) for r in roots):
        problems.append(
            {
                "field": "certificate",
                "problem": "not issued by a trust root of this deployment (pki/roots)",
            }
        )
    if ctx.keys.exists(TRUST_SIGNER_REF):
        problems.append(
            {
                "field": "key",
                "problem": f"a trust-list signer exists ({TRUST_SIGNER_REF}); keys are never overwritten",
            }
        )
    if problems:
        raise ValidationFailedError("cannot use this trust-list signer", details=problems)
    _store(ctx, stored, chain)
    return crypto.certificate_summary(chain[0])


def use_token_trust_signer(
    ctx: ServiceContext, *, token_label: str, key_label: str, certificate_pem: bytes | None = None
) -> crypto.CertificateInfo:
    """Sign the trust list with a key in a PKCS#11 token from now on.

    Without ``certificate_pem`` (development): the key is generated in the token and certified
    by the development root. With it: the token already holds the key, and ``certificate_pem``
    (signer first, then a trust root) is its certificate from the deployment's CA. A key file
    signer used before stays on disk, unused.

    Raises:
        KeyUnavailableError: the token cannot be reached, or holds no such key (or holds one
            already, when it is to be generated).
        ValidationFailedError: the certificate is not the key's, or no trust root issued it.
        KeyUnavailableError: development certification asked for in production.
    """
    ref = crypto.token_key_ref(token_label, key_label)
    if certificate_pem is None:
        if ctx.settings.env is Environment.PRODUCTION:
            raise KeyUnavailableError(
                "production has no development root: give the token key's --certificate"
            )
        public = ctx.token_keys().generate(ref, crypto.KeyAlgorithm.ECDSA_P256)
        root_ref = "dev-root-ecdsa"
        root_der = (ctx.trust_roots_dir / f"{root_ref}.der").read_bytes()
        now = ctx.clock.now()
        with ctx.open_key_file(root_ref) as root_key:
            cert = crypto.make_list_signer_certificate(
                key=public,
                common_name="certsvc Development Trust List Signer (PKCS#11)",
                organization="certsvc 开发测试信任列表签名",
                issuer_certificate_der=root_der,
                issuer_key=root_key,
                not_before=now - timedelta(minutes=5),
                not_after=now + timedelta(days=3650),
            )
        chain = [cert, root_der]
    else:
        chain = crypto.certificates_from_pem(certificate_pem)
        ctx.token_keys().open(
            ref, certificate_der=chain[0], chain_der=chain[1:]
        ).close()  # the key is the certificate's
        roots = ctx.trust_roots()
        if not any(chain[0] == r or crypto.is_directly_issued_by(chain[0], r) for r in roots):
            raise ValidationFailedError(
                "cannot use this trust-list signer",
                details=[
                    {
                        "field": "certificate",
                        "problem": "not issued by a trust root of this deployment (pki/roots)",
                    }
                ],
            )
    _store(ctx, None, chain, key_ref=ref)
    return crypto.certificate_summary(chain[0])


def load_trust_signer(ctx: ServiceContext) -> TrustListSigner:
    """The provisioned signer, decrypted once per context. Never creates anything.

    Raises:
        KeyUnavailableError: no signer provisioned, or its key cannot be decrypted.
    """

    def load() -> TrustListSigner:
        if not ctx.keys.exists(TRUST_SIGNER_REF) and not os.path.exists(_chain_path(ctx)):
            raise KeyUnavailableError(
                "no trust-list signing key: run `certsvc init` (development) or `certsvc trust import-signer`"
            )
        try:
            with open(_chain_path(ctx), encoding="utf-8") as fh:
                stored = json.load(fh)
            chain = tuple(base64.b64decode(c) for c in stored["chain"])
            key_ref = stored.get("key_ref")
        except (OSError, ValueError, KeyError) as exc:
            raise KeyUnavailableError(
                "the trust-list signer's certificate chain is unreadable"
            ) from exc
        if key_ref is not None:
            assert ctx.signing_keys is not None  # set by the context
            token_key = ctx.signing_keys.open(
                key_ref, certificate_der=chain[0], chain_der=chain[1:]
            )
            return TrustListSigner(key=token_key, chain_der=chain)
        return TrustListSigner(key=ctx.open_key_file(TRUST_SIGNER_REF), chain_der=chain)

    return ctx.loaded(TRUST_SIGNER_REF, load)
