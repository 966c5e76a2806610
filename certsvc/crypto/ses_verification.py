"""Verifying a GB/T 38540-2020 SES_Signature: the seal, its maker, the signer, the document hash.

Each failure is a reason with a stable code, so a verifier can say which step failed; the
steps are listed at :func:`verify_ses_signature`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import x509

from certsvc.crypto.gm_oids import OID_SM2_WITH_SM3
from certsvc.crypto.ses import SesSignatureInfo, aware, parse_signature
from certsvc.crypto.ses_asn1 import SES_VERSION
from certsvc.crypto.sm2 import DEFAULT_SIGNER_ID, Sm2PublicKey
from certsvc.crypto.sm2_certificates import verify_sm2_certificate_signature

__all__ = ["MakerTrust", "SesReason", "SesVerificationReport", "verify_ses_signature"]


@dataclass(frozen=True)
class SesReason:
    code: str
    message: str


@dataclass(frozen=True)
class SesVerificationReport:
    """Outcome of :func:`verify_ses_signature`; ``is_valid`` iff there is no reason."""

    is_valid: bool
    reasons: tuple[SesReason, ...]
    signature: SesSignatureInfo | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


MakerTrust = Sequence[bytes] | Callable[[bytes], bool]


# ------------------------------------------------------------------------- verification ----
def _public_key(cert_der: bytes) -> tuple[x509.Certificate, Sm2PublicKey] | None:
    try:
        cert = x509.Certificate.load(cert_der)
        return cert, Sm2PublicKey.from_spki_der(cert.public_key.dump())
    except (ValueError, TypeError, KeyError):
        return None


def _maker_trusted(maker_cert_der: bytes, maker_trust: MakerTrust) -> bool:
    if callable(maker_trust):
        return bool(maker_trust(maker_cert_der))
    maker = _public_key(maker_cert_der)
    for anchor_der in maker_trust:
        if anchor_der == maker_cert_der:  # pinned maker certificate
            return True
        anchor = _public_key(anchor_der)
        # or issued directly by a listed CA certificate
        if (
            maker is not None
            and anchor is not None
            and maker[0].issuer == anchor[0].subject
            and verify_sm2_certificate_signature(maker_cert_der, anchor[1])
        ):
            return True
    return False


def _validity(cert: x509.Certificate, at: datetime) -> str | None:
    validity = cert["tbs_certificate"]["validity"]
    if at < validity["not_before"].native:
        return "not_yet_valid"
    if at > validity["not_after"].native:
        return "expired"
    return None


def verify_ses_signature(
    signature_der: bytes,
    *,
    document_hash: bytes,
    maker_trust: MakerTrust,
    at: datetime | None = None,
) -> SesVerificationReport:
    """Verify a GB/T 38540 v4 ``SES_Signature`` (checklist of STANDARDS §1.3).

    1. SES signature over DER(TBS_Sign) with the signer certificate → ``ses_signature_invalid``
    2. signer certificate ∈ seal certList → ``signer_not_in_seal_list``
    3. seal signature over DER(SES_SealInfo) with the maker certificate → ``seal_signature_invalid``
    4. maker certificate trusted (``maker_trust``: pinned/issuing cert DERs, or a callable that
       receives the maker cert DER, e.g. a full path validation) → ``maker_untrusted``;
       maker certificate validity at the seal's createDate → ``maker_cert_expired`` / ``…not_yet_valid``
    5. seal window ``validStart ≤ t ≤ validEnd`` → ``seal_not_yet_valid`` / ``seal_expired``
    6. signer certificate validity at t → ``signer_cert_not_yet_valid`` / ``signer_cert_expired``
    7. ``dataHash == document_hash`` → ``data_hash_mismatch``

    ``t`` is ``at`` when given, else the signature's own ``timeInfo`` (claimed by the signer; no
    time-stamp checking is done). Revocation is not checked here. Never raises for bad input:
    malformed data gives ``ses_malformed``; unknown algorithms ``unsupported_algorithm``.
    """
    reasons: list[SesReason] = []

    def fail(code: str, message: str) -> None:
        reasons.append(SesReason(code, message))

    try:
        info = parse_signature(signature_der)
    except ValueError as exc:
        return SesVerificationReport(False, (SesReason("ses_malformed", str(exc)),))
    seal = info.seal
    t = aware(at) if at is not None else info.signed_at

    if seal.version != SES_VERSION or info.version != seal.version:
        fail("version_mismatch", f"TBS_Sign version {info.version}, seal version {seal.version}")
    # 1. signature over TBS_Sign
    signer = _public_key(info.signer_cert_der)
    if info.signature_alg_oid != OID_SM2_WITH_SM3:
        fail("unsupported_algorithm", f"signature algorithm {info.signature_alg_oid}")
    elif signer is None:
        fail("ses_signature_invalid", "signer certificate is not an SM2 certificate")
    elif not signer[1].verify(info.signature, info.tbs_der, signer_id=DEFAULT_SIGNER_ID):
        fail("ses_signature_invalid", "the signature over TBS_Sign does not verify")
    # 2. signer allowed by the seal
    if not seal.lists_signer(info.signer_cert_der):
        fail("signer_not_in_seal_list", "the signer certificate is not in the seal's list")
    # 3. seal signature
    maker = _public_key(seal.maker_cert_der)
    if seal.sign_alg_oid != OID_SM2_WITH_SM3:
        fail("unsupported_algorithm", f"seal signature algorithm {seal.sign_alg_oid}")
    elif maker is None or not maker[1].verify(
        seal.signed_value, seal.seal_info_der, signer_id=DEFAULT_SIGNER_ID
    ):
        fail(
            "seal_signature_invalid", "the seal maker's signature over SES_SealInfo does not verify"
        )
    # 4. maker trusted
    if not _maker_trusted(seal.maker_cert_der, maker_trust):
        fail("maker_untrusted", "the seal maker certificate is not trusted")
    elif maker is not None:
        state = _validity(maker[0], seal.created_at)
        if state is not None:
            fail(f"maker_cert_{state}", f"the seal maker certificate was {state} at seal creation")
    # 5. seal validity window
    if t < seal.valid_start:
        fail("seal_not_yet_valid", "the seal was not yet valid")
    elif t > seal.valid_end:
        fail("seal_expired", "the seal had expired")
    # 6. signer certificate validity
    if signer is not None:
        state = _validity(signer[0], t)
        if state is not None:
            fail(f"signer_cert_{state}", f"the signer certificate was {state}")
    # 7. document hash
    if info.data_hash != document_hash:
        fail("data_hash_mismatch", "dataHash does not match the document")
    return SesVerificationReport(not reasons, tuple(reasons), info)
