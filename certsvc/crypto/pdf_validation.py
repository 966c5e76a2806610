"""Check every signature in a PDF: integrity, trust, coverage, changes after signing.

The result is a value (frozen dataclasses); only "could not evaluate at all" is an error
(:class:`~certsvc.errors.InvalidDocumentError` for input that is not a readable PDF). A broken
signature container is an outcome (``is_intact=False``), not an exception.

Trust is evaluated offline (``allow_fetching=False``) against the caller's roots only, with
revocation in soft-fail mode: the seal CAs of the embedded deployment publish no CRL/OCSP.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel as _PhLevel
from pyhanko.sign.diff_analysis import SuspiciousModification
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from certsvc.errors import DocumentTooLargeError, InvalidDocumentError

__all__ = [
    "DEFAULT_MAX_PDF_BYTES",
    "ModificationLevel",
    "PdfValidationResult",
    "SignatureCheck",
    "validate_pdf",
]

DEFAULT_MAX_PDF_BYTES = 64 * 1024 * 1024
# ISO 32000-2 §7.5.2: the header may be preceded by junk; readers look in the first 1 KiB.
_HEADER_WINDOW = 1024


class ModificationLevel(StrEnum):
    """What changed in the file after a signature's revision (pyHanko's difference analysis)."""

    NONE = "none"  # byte-for-byte the signed revision
    ARCHIVAL = "archival"  # only validation data / document timestamps (PAdES LTA) added
    FORM_FILLING = "form_filling"  # further signatures or form field values
    ANNOTATIONS = "annotations"  # annotations added/changed
    OTHER = "other"  # anything else: page content, structure — the document now shows more
    UNKNOWN = "unknown"  # could not be determined (e.g. the signature could not be read)


_LEVELS = {
    _PhLevel.NONE: ModificationLevel.NONE,
    _PhLevel.LTA_UPDATES: ModificationLevel.ARCHIVAL,
    _PhLevel.FORM_FILLING: ModificationLevel.FORM_FILLING,
    _PhLevel.ANNOTATIONS: ModificationLevel.ANNOTATIONS,
    _PhLevel.OTHER: ModificationLevel.OTHER,
}


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The outcome for one signature field."""

    field_name: str
    signer_common_name: str | None
    signer_organization: str | None
    signer_certificate_sha256: str | None
    algorithm: str | None  # "rsa-sha256", "ecdsa-sha256", "sm2-sm3", ...
    # The signed signing-time attribute, or for PAdES (which forbids that attribute,
    # ETSI EN 319 142-1 §5.2.1) the signature dictionary's /M. Claimed by the signer.
    signing_time: datetime | None
    is_intact: bool  # the signed bytes' digest matches and the signature value verifies
    is_trusted: bool
    trust_explanation: str | None  # why not trusted (None when trusted)
    covers_whole_file: bool
    modification_level: ModificationLevel
    modification_description: str
    # SHA-256 of the file up to the end of this signature's revision: equal to the issued
    # file's hash even when something was appended afterwards.
    signed_revision_sha256: str | None
    bottom_line: bool
    problem: str | None = None  # set when the signature could not be evaluated at all
    # The signature time-stamp (PAdES B-T): when a TSA saw the signature value. Proven, unlike
    # ``signing_time``; None when the signature carries no time-stamp.
    timestamp_at: datetime | None = None
    # The time-stamp token's own check: intact, signed by a TSA chaining to a trusted root with
    # the timeStamping purpose. None when there is no time-stamp.
    is_timestamp_valid: bool | None = None


@dataclass(frozen=True, slots=True)
class PdfValidationResult:
    file_sha256: str
    signatures: tuple[SignatureCheck, ...]

    @property
    def is_signed(self) -> bool:
        return bool(self.signatures)

    @property
    def bottom_line(self) -> bool:
        """True only if there is at least one signature and every signature passes."""
        return bool(self.signatures) and all(s.bottom_line for s in self.signatures)


def _gm_validator() -> Any:
    try:
        from certsvc.crypto._pyhanko_gm import GmSignatureValidator
    except ImportError:
        return None
    return GmSignatureValidator()


def _load_roots(trust_roots_der: Sequence[bytes]) -> list[asn1_x509.Certificate]:
    roots = []
    for der in trust_roots_der:
        try:
            cert = asn1_x509.Certificate.load(der, strict=True)
            cert.native  # noqa: B018 - parse fully now
        except (ValueError, TypeError) as exc:
            # A bad trust root is a configuration bug, not a property of the document.
            raise ValueError("a trust root is not a DER X.509 certificate") from exc
        roots.append(cert)
    return roots


def _open(pdf: bytes, max_bytes: int) -> PdfFileReader:
    if len(pdf) > max_bytes:
        raise DocumentTooLargeError(
            f"the document is larger than {max_bytes} bytes", details={"limit": max_bytes}
        )
    if b"%PDF-" not in pdf[:_HEADER_WINDOW]:
        raise InvalidDocumentError("the file is not a PDF (no %PDF- header)")
    if b"%%EOF" not in pdf[-_HEADER_WINDOW:]:
        # A PDF ends with %%EOF (ISO 32000-2 §7.5.5); missing means truncated.
        raise InvalidDocumentError("the PDF is truncated (no %%EOF marker at the end)")
    try:
        reader = PdfFileReader(io.BytesIO(pdf), strict=False)
        if reader.encrypted:
            raise InvalidDocumentError("encrypted PDFs are not accepted")
        # Touch the document catalogue and page tree now so structural damage surfaces
        # here as InvalidDocumentError, not later inside signature evaluation.
        reader.root["/Pages"]["/Count"]
    except InvalidDocumentError:
        raise
    except Exception as exc:
        raise InvalidDocumentError("the PDF is malformed and cannot be read") from exc
    return reader


def _algorithm_name(mechanism: str | None, md: str | None) -> str | None:
    if mechanism is None:
        return None
    mech = mechanism.lower()
    md = (md or "").lower()
    if "sm2" in mech:
        return "sm2-sm3"
    if "pss" in mech:
        return f"rsapss-{md}"
    if "ecdsa" in mech:
        return f"ecdsa-{md}"
    if "rsa" in mech:
        return f"rsa-{md}"
    return f"{mech}-{md}" if md else mech


def _subject(cert: asn1_x509.Certificate) -> tuple[str | None, str | None]:
    native = cert.subject.native
    cn, org = native.get("common_name"), native.get("organization_name")
    # Multi-valued attributes come back as lists; report the first.
    if isinstance(cn, list):
        cn = cn[0]
    if isinstance(org, list):
        org = org[0]
    return cn, org


def _modification(status: Any) -> tuple[ModificationLevel, str]:
    level = status.modification_level
    diff = status.diff_result
    if level is None:
        return ModificationLevel.UNKNOWN, "difference analysis was not available"
    ours = _LEVELS.get(level, ModificationLevel.OTHER)
    if isinstance(diff, SuspiciousModification):
        # pyHanko's message lists object references: keep its first sentence as the detail.
        detail = str(diff).split("\n", 1)[0][:160]
        return ModificationLevel.OTHER, (
            "changed after signing beyond form filling (page content, annotations or "
            f"document structure): {detail}"
        )
    if ours is ModificationLevel.NONE:
        return ours, "no changes after signing"
    changed = sorted(getattr(diff, "changed_form_fields", ()) or ())
    text = {
        ModificationLevel.ARCHIVAL: "validation data or document timestamps added",
        ModificationLevel.FORM_FILLING: "signatures or form field values added",
        ModificationLevel.ANNOTATIONS: "annotations added or changed",
        ModificationLevel.OTHER: "other changes after signing",
    }[ours]
    if changed:
        text += f" (fields: {', '.join(changed)})"
    return ours, text


def _trust_explanation(status: Any) -> str | None:
    if status.trusted:
        return None
    indic = status.trust_problem_indic
    if indic is None:
        return "the signer's certificate could not be validated"
    name = getattr(indic, "name", str(indic))
    texts = {
        "NO_CERTIFICATE_CHAIN_FOUND": "no chain from the signer's certificate to a trusted root",
        "REVOKED": "the signer's certificate is revoked",
        "EXPIRED": "the signer's certificate was not valid at the validation time",
        "NOT_YET_VALID": "the signer's certificate was not yet valid at the validation time",
        "OUT_OF_BOUNDS_NO_POE": "the signer's certificate was not valid at the validation time",
        "CHAIN_CONSTRAINTS_FAILURE": "the certificate chain violates its constraints",
        "CRYPTO_CONSTRAINTS_FAILURE": "an algorithm in the chain is not acceptable",
        "SIG_CONSTRAINTS_FAILURE": "the signer's certificate does not allow document signing",
    }
    return texts.get(name, f"the signer's certificate is not trusted ({name})")


def _check_one(embedded: Any, pdf: bytes, vc_factory: Any) -> SignatureCheck:
    field_name = str(embedded.field_name)
    try:
        byte_range = [int(x) for x in embedded.byte_range]
        revision_end = byte_range[2] + byte_range[3]
        revision_sha = hashlib.sha256(pdf[:revision_end]).hexdigest()
    except Exception:
        revision_sha = None
    try:
        cert = embedded.signer_cert
        cert_sha = hashlib.sha256(cert.dump()).hexdigest()
        cn, org = _subject(cert)
    except Exception:
        cert_sha, cn, org = None, None, None
    try:
        status = validate_pdf_signature(embedded, signer_validation_context=vc_factory())
    except Exception as exc:
        return SignatureCheck(
            field_name=field_name,
            signer_common_name=cn,
            signer_organization=org,
            signer_certificate_sha256=cert_sha,
            algorithm=None,
            signing_time=None,
            is_intact=False,
            is_trusted=False,
            trust_explanation="the signature could not be evaluated",
            covers_whole_file=False,
            modification_level=ModificationLevel.UNKNOWN,
            modification_description="not evaluated",
            signed_revision_sha256=revision_sha,
            bottom_line=False,
            problem=f"the signature could not be evaluated ({type(exc).__name__})",
        )
    level, description = _modification(status)
    covers_whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    revision_ok = status.coverage is not None and status.coverage >= (
        SignatureCoverageLevel.ENTIRE_REVISION
    )
    is_intact = bool(status.intact and status.valid)
    is_trusted = bool(status.trusted)
    signing_time = status.signer_reported_dt
    if signing_time is not None:
        signing_time = signing_time.astimezone(UTC)
    timestamp_at, is_timestamp_valid = None, None
    ts = status.timestamp_validity
    if ts is not None:
        timestamp_at = ts.timestamp.astimezone(UTC)
        is_timestamp_valid = bool(ts.intact and ts.valid and ts.trusted)
    bottom_line = (
        bool(status.bottom_line)
        and is_intact
        and is_trusted
        and revision_ok
        and level not in (ModificationLevel.OTHER, ModificationLevel.UNKNOWN)
    )
    return SignatureCheck(
        field_name=field_name,
        signer_common_name=cn,
        signer_organization=org,
        signer_certificate_sha256=cert_sha,
        algorithm=_algorithm_name(status.pkcs7_signature_mechanism, status.md_algorithm),
        signing_time=signing_time,
        is_intact=is_intact,
        is_trusted=is_trusted,
        trust_explanation=_trust_explanation(status),
        covers_whole_file=covers_whole,
        modification_level=level,
        modification_description=description,
        signed_revision_sha256=revision_sha,
        bottom_line=bottom_line,
        timestamp_at=timestamp_at,
        is_timestamp_valid=is_timestamp_valid,
    )


def validate_pdf(
    pdf: bytes,
    *,
    trust_roots_der: Sequence[bytes],
    validation_time: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_PDF_BYTES,
) -> PdfValidationResult:
    """Evaluate every signature of ``pdf`` against ``trust_roots_der``.

    ``validation_time`` (aware) is the instant at which certificates must be valid; ``None``
    means now.

    Raises:
        InvalidDocumentError: not a PDF, truncated, encrypted or structurally unreadable.
        DocumentTooLargeError: more than ``max_bytes``.
        ValueError: a trust root is not a certificate, or ``validation_time`` is naive.
    """
    if validation_time is not None and validation_time.tzinfo is None:
        raise ValueError("validation_time must be timezone-aware")
    roots = _load_roots(trust_roots_der)
    reader = _open(pdf, max_bytes)
    try:
        embedded_sigs = list(reader.embedded_signatures)
    except Exception as exc:
        raise InvalidDocumentError("the PDF's form fields cannot be read") from exc

    gm_validator = _gm_validator()

    def vc_factory() -> ValidationContext:
        # A fresh context per signature: contexts cache validation paths and fetch state.
        kwargs: dict[str, Any] = {
            "trust_roots": roots,
            "allow_fetching": False,
            "revocation_mode": "soft-fail",
        }
        if validation_time is not None:
            kwargs["moment"] = validation_time
        if gm_validator is not None:
            kwargs["signature_validator"] = gm_validator
        return ValidationContext(**kwargs)

    checks = tuple(_check_one(e, pdf, vc_factory) for e in embedded_sigs)
    return PdfValidationResult(file_sha256=hashlib.sha256(pdf).hexdigest(), signatures=checks)
