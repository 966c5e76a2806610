"""pyHanko hooks for SM2/SM3 (GM) PDF signatures.

* :class:`Sm2Signer` — a pyHanko ``Signer`` that overrides only ``async_sign_raw`` (the extension
  point pyHanko documents for new signing mechanisms). It produces RFC 5652 CMS
  (``adbe.pkcs7.detached``) with digestAlgorithm SM3 (1.2.156.10197.1.401) and
  signatureAlgorithm SM2-with-SM3 (1.2.156.10197.1.501); the signature is over DER(signedAttrs)
  with the default ID (GM/T 0009-2012 §10).
* :class:`GmSignatureValidator` — plugs into
  ``ValidationContext(signature_validator=GmSignatureValidator())`` and verifies SM2 signatures
  wherever pyhanko-certvalidator checks one: CMS signer infos, certificate chains, CRLs, OCSP.
  Everything else is delegated to ``DefaultSignatureValidator``.

GM/T 0010 (GB/T 35275) flavoured CMS (ContentInfo type 1.2.156.10197.6.1.4.2.2, data
1.2.156.10197.6.1.4.2.1, digestEncryptionAlgorithm sm2-1 1.2.156.10197.1.301.1) is accepted on
verification thanks to the content-type aliases in :mod:`certsvc.crypto.gm_oids`, provided the
signer info carries signed (authenticated) attributes — see :class:`GmSignatureValidator`.
"""

from __future__ import annotations

import functools

from asn1crypto import algos, keys, x509
from cryptography.exceptions import InvalidSignature
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers.pdf_cms import Signer
from pyhanko_certvalidator.errors import AlgorithmNotSupported
from pyhanko_certvalidator.registry import CertificateStore
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_VALIDATION_CONTEXT,
    DefaultSignatureValidator,
    SignatureValidationContext,
)

from certsvc.crypto.gm_oids import OID_SM2_SIGN, OID_SM2_WITH_SM3, register_gm_oids
from certsvc.crypto.sm2 import (
    DEFAULT_SIGNER_ID,
    SM2_SIGNATURE_PLACEHOLDER_SIZE,
    Sm2PublicKey,
    Sm2Signing,
)

__all__ = ["SM2_SM3_MECHANISM", "GmSignatureValidator", "Sm2Signer"]

register_gm_oids()

SM2_SM3_MECHANISM = algos.SignedDigestAlgorithm({"algorithm": "sm2_sm3"})
_SM2_OIDS = frozenset({OID_SM2_WITH_SM3, OID_SM2_SIGN})


class Sm2Signer(Signer):
    """pyHanko signer backed by an SM2 key (an ``Sm2PrivateKey`` or any ``Sm2Signing``, held by the caller).

    Use with ``PdfSignatureMetadata(md_algorithm='sm3')``; other digests are refused because
    SM2-with-SM3 fixes the digest (GB/T 35276 §7).
    """

    def __init__(
        self,
        *,
        signing_key: Sm2Signing,
        signing_cert: x509.Certificate,
        cert_registry: CertificateStore | None = None,
        embed_roots: bool = True,
        signer_id: bytes = DEFAULT_SIGNER_ID,
    ) -> None:
        cert_key = Sm2PublicKey.from_spki_der(signing_cert.public_key.dump())
        if cert_key != signing_key.public_key():
            raise ValueError("signing_cert does not belong to signing_key")
        super().__init__(
            signature_mechanism=SM2_SM3_MECHANISM,
            signing_cert=signing_cert,
            cert_registry=cert_registry,
            embed_roots=embed_roots,
        )
        self._signing_key = signing_key
        self._signer_id = signer_id

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if digest_algorithm.lower() != "sm3":
            raise PyHankoSigningError(
                f"SM2-with-SM3 needs md_algorithm='sm3', not {digest_algorithm!r}"
            )
        if dry_run:
            # Size estimate only: DER SEQUENCE{r,s} is at most 72 bytes for a 256-bit order.
            return bytes(SM2_SIGNATURE_PLACEHOLDER_SIZE)
        return self._signing_key.sign(data, signer_id=self._signer_id)

    def __repr__(self) -> str:
        return "<Sm2Signer>"


@functools.lru_cache(maxsize=256)
def _load_public(spki_der: bytes) -> Sm2PublicKey | None:
    try:
        return Sm2PublicKey.from_spki_der(spki_der)
    except ValueError:
        return None


class GmSignatureValidator(DefaultSignatureValidator):
    """Verifies SM2 signatures (``sm2_sm3`` and GM/T 0010 ``sm2sign`` + SM3), delegates the rest.

    Signature values may be DER ``SEQUENCE{r,s}`` or raw 64-byte ``r||s``. Pre-hashed input
    (a CMS signer info *without* signed attributes) cannot be verified: SM2 hashes
    ``Z_A || M`` itself, so the message, not its digest, is needed → ``AlgorithmNotSupported``.
    """

    def __init__(self, *, signer_id: bytes = DEFAULT_SIGNER_ID) -> None:
        self._signer_id = signer_id

    def validate_signature(
        self,
        signature: bytes,
        signed_data: bytes,
        public_key_info: keys.PublicKeyInfo,
        signature_algorithm: algos.SignedDigestAlgorithm,
        context: SignatureValidationContext = DEFAULT_VALIDATION_CONTEXT,
    ) -> None:
        oid = signature_algorithm["algorithm"].dotted
        if oid not in _SM2_OIDS:
            super().validate_signature(
                signature, signed_data, public_key_info, signature_algorithm, context
            )
            return
        if oid == OID_SM2_SIGN:
            md = context.contextual_md_algorithm
            if md is not None and md.lower() != "sm3":
                raise AlgorithmNotSupported(f"sm2-1 signatures with digest {md} are not supported")
        if context.prehashed:
            raise AlgorithmNotSupported(
                "SM2 signatures over a pre-computed digest (no signed attributes) "
                "cannot be verified"
            )
        public_key = _load_public(public_key_info.dump())
        if public_key is None:
            raise InvalidSignature("signer public key is not an SM2 key")
        if not public_key.verify(signature, signed_data, signer_id=self._signer_id):
            raise InvalidSignature("SM2 signature does not verify")
