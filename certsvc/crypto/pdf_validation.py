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
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import enumerate_sig_fields
from pyhanko.sign.validation import validate_pdf_signature, validate_pdf_timestamp
from pyhanko.sign.validation.errors import SignatureValidationError
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

from certsvc.crypto.pdf_archival import proven_in_the_past
from certsvc.crypto.pdf_revisions import (
    PdfChange,
    changes_after_revision,
    eof_candidates,
    has_trailing_data,
)
from certsvc.errors import DocumentTooLargeError, InvalidDocumentError

__all__ = [
    "DEFAULT_MAX_PDF_BYTES",
    "ModificationLevel",
    "PdfChange",
    "PdfValidationResult",
    "SignatureCheck",
    "validate_pdf",
]

DEFAULT_MAX_PDF_BYTES = 64 * 1024 * 1024
# ISO 32000-2 §7.5.2: the header may be preceded by junk; readers look in the first 1 KiB.
_HEADER_WINDOW = 1024
_LISTED_CHANGES = 5  # changes spelled out in a description; the rest are counted
# Errors that mean the signature itself is wrong (its structure, its CMS, its value), as
# opposed to a failure of ours to evaluate it.
_BROKEN_SIGNATURE_ERRORS = (SignatureValidationError, PdfError, ValueError, KeyError)
_log = logging.getLogger(__name__)


class ModificationLevel(StrEnum):
    """What the revisions after a signature's own wrote, judged by :mod:`.pdf_revisions`."""

    NONE = "none"  # byte-for-byte the signed revision
    ARCHIVAL = "archival"  # only PAdES LTV data: DSS, document time-stamps
    OTHER = "other"  # anything else: a modification (see ``SignatureCheck.changes``)
    UNKNOWN = "unknown"  # not determined (the signature could not be read)


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
    problem: str | None = None  # why the signature is broken, or why it could not be evaluated
    # False when evaluating failed on our side (e.g. the SM2 library could not set up a
    # context): the signature is then neither intact nor broken, and must not be called forged.
    is_evaluated: bool = True
    is_document_timestamp: bool = False  # /DocTimeStamp (PAdES LTA), not a seal
    changes: tuple[PdfChange, ...] = ()  # after this signature's revision, LTV data excluded
    # The signature time-stamp (PAdES B-T): when a TSA saw the signature value. Proven, unlike
    # ``signing_time``; None when the signature carries no time-stamp.
    timestamp_at: datetime | None = None
    # The time-stamp token's own check: intact, signed by a TSA chaining to a trusted root with
    # the timeStamping purpose. None when there is no time-stamp.
    is_timestamp_valid: bool | None = None
    trust_problem: str | None = None  # pyHanko's trust problem indication, e.g. "EXPIRED"
    # Set when the chain was no longer valid at the validation time but the seal is proven in
    # the past (PAdES B-LTA): the instant the chain was validated at, and what proves it.
    validated_in_past_at: datetime | None = None
    proven_by: str | None = None


@dataclass(frozen=True, slots=True)
class PdfValidationResult:
    file_sha256: str
    signatures: tuple[SignatureCheck, ...]
    # Bytes after the last revision that parses, other than white space: appended without
    # being an incremental update. The signatures were checked on the file without them.
    trailing_bytes: int = 0
    # Every certificate the file's signatures carry (their CMS and their signature
    # time-stamps'), DER: the certificates whose validity a later check may depend on.
    certificates_der: tuple[bytes, ...] = field(default=(), compare=False)

    @property
    def is_signed(self) -> bool:
        return bool(self.signatures)

    @property
    def bottom_line(self) -> bool:
        """True only if there is at least one signature and every signature passes."""
        return (
            bool(self.signatures)
            and all(s.bottom_line for s in self.signatures)
            and not self.trailing_bytes
        )


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


def _read(pdf: bytes) -> PdfFileReader:
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


def _open(pdf: bytes, max_bytes: int) -> tuple[PdfFileReader, bytes]:
    """The reader of the last complete revision, and the bytes it covers.

    Bytes appended after the last ``%%EOF`` (or after one that does not parse) are not an
    incremental update: readers differ on what they make of them, so they are set aside here
    and reported by the caller, and the signatures are checked on the file without them.
    """
    if len(pdf) > max_bytes:
        raise DocumentTooLargeError(
            f"the document is larger than {max_bytes} bytes", details={"limit": max_bytes}
        )
    if b"%PDF-" not in pdf[:_HEADER_WINDOW]:
        raise InvalidDocumentError("the file is not a PDF (no %PDF- header)")
    first_error: InvalidDocumentError | None = None
    for end in eof_candidates(pdf):
        try:
            return _read(pdf[:end]), pdf[:end]
        except InvalidDocumentError as exc:
            if str(exc).startswith("encrypted"):
                raise
            first_error = first_error or exc
    # A PDF ends with %%EOF (ISO 32000-2 §7.5.5); none at all means truncated.
    raise first_error or InvalidDocumentError("the PDF is truncated (no %%EOF marker)")


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


def _describe(
    changes: tuple[PdfChange, ...], later_revisions: int
) -> tuple[ModificationLevel, str]:
    if changes:
        listed = "; ".join(c.describe_en() for c in changes[:_LISTED_CHANGES])
        more = (
            f"; and {len(changes) - _LISTED_CHANGES} more" if len(changes) > _LISTED_CHANGES else ""
        )
        return ModificationLevel.OTHER, listed + more
    if later_revisions:
        return (
            ModificationLevel.ARCHIVAL,
            "validation data or document time-stamps added (PAdES LTV)",
        )
    return ModificationLevel.NONE, "no changes after signing"


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


def _broken(
    field_name: str, problem: str, revision_sha: str | None = None, *, is_timestamp: bool = False
) -> SignatureCheck:
    return SignatureCheck(
        field_name=field_name,
        signer_common_name=None,
        signer_organization=None,
        signer_certificate_sha256=None,
        algorithm=None,
        signing_time=None,
        is_intact=False,
        is_trusted=False,
        trust_explanation="the signature is broken",
        covers_whole_file=False,
        modification_level=ModificationLevel.UNKNOWN,
        modification_description="not evaluated",
        signed_revision_sha256=revision_sha,
        bottom_line=False,
        problem=problem,
        is_document_timestamp=is_timestamp,
    )


def _structure_problem(embedded: EmbeddedPdfSignature, pdf: bytes) -> str | None:
    """Why the signature dictionary cannot be a signature over a revision of this file.

    ISO 32000-2 §12.8.1: /ByteRange is [0 a b c] and the gap [a, b) is exactly the hex string
    of /Contents, which holds the CMS (zero padding allowed after it). Anything else (an
    emptied or zeroed /Contents, a /ByteRange that skips signed bytes or points elsewhere) is a
    broken signature, whatever a lenient validator makes of it.
    """
    raw = embedded.byte_range
    if not isinstance(raw, generic.ArrayObject) or len(raw) != 4:
        return "/ByteRange is not an array of four numbers"
    values = [raw[i] for i in range(4)]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "/ByteRange is not an array of four integers"
    start, length1, offset2, length2 = (int(v) for v in values)
    if (
        start != 0
        or length1 <= 0
        or offset2 <= length1
        or length2 < 0
        or offset2 + length2 > len(pdf)
    ):
        return "/ByteRange does not describe the file"
    gap = pdf[length1:offset2]
    if len(gap) < 2 or gap[:1] != b"<" or gap[-1:] != b">":
        return "/ByteRange does not exclude exactly the /Contents string"
    try:
        gap_bytes = bytes.fromhex(gap[1:-1].decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        return "/ByteRange does not exclude exactly the /Contents string"
    contents = bytes(embedded.pkcs7_content)
    if gap_bytes != contents:
        return "the /Contents in the signed gap is not the signature's /Contents"
    if not contents.rstrip(b"\x00"):
        return "/Contents is empty or zeroed"
    return None


def _check_one(embedded: EmbeddedPdfSignature, pdf: bytes, vc_factory: Any) -> SignatureCheck:
    field_name = str(embedded.field_name)
    is_timestamp = embedded.sig_object_type == "/DocTimeStamp"
    revision_sha: str | None = None
    problem = _structure_problem(embedded, pdf)
    if problem is not None:
        return _broken(field_name, problem, is_timestamp=is_timestamp)
    byte_range = [int(x) for x in embedded.byte_range]
    revision_sha = hashlib.sha256(pdf[: byte_range[2] + byte_range[3]]).hexdigest()
    try:
        cert = embedded.signer_cert
        cert_sha = hashlib.sha256(cert.dump()).hexdigest()
        cn, org = _subject(cert)
    except Exception:
        cert_sha, cn, org = None, None, None
    try:
        if is_timestamp:
            status: Any = validate_pdf_timestamp(
                embedded, validation_context=vc_factory(), skip_diff=True
            )
        else:
            status = validate_pdf_signature(
                embedded, signer_validation_context=vc_factory(), skip_diff=True
            )
    except _BROKEN_SIGNATURE_ERRORS as exc:
        return _broken(
            field_name,
            f"the signature cannot be verified: {exc}"[:300],
            revision_sha,
            is_timestamp=is_timestamp,
        )
    except Exception as exc:
        # Our side failed (a library, a resource): say so; never call the file forged for it.
        _log.warning("signature %s could not be evaluated: %s", field_name, type(exc).__name__)
        return replace(
            _broken(
                field_name,
                f"the signature could not be evaluated ({type(exc).__name__})",
                revision_sha,
            ),
            signer_common_name=cn,
            signer_organization=org,
            signer_certificate_sha256=cert_sha,
            trust_explanation="the signature could not be evaluated",
            is_evaluated=False,
            is_document_timestamp=is_timestamp,
        )
    changes = changes_after_revision(embedded.reader, embedded.signed_revision)
    level, description = _describe(
        changes, embedded.reader.xrefs.total_revisions - 1 - embedded.signed_revision
    )
    covers_whole = status.coverage == SignatureCoverageLevel.ENTIRE_FILE
    revision_ok = (
        status.coverage is not None and status.coverage >= SignatureCoverageLevel.ENTIRE_REVISION
    )
    is_intact = bool(status.intact and status.valid)
    if is_intact and not revision_ok:
        # The bytes verify but are not a whole revision: the signature was moved (wrapping).
        return _broken(
            field_name,
            "the signed bytes are not a whole revision of this file",
            revision_sha,
            is_timestamp=is_timestamp,
        )
    is_trusted = bool(status.trusted)
    signing_time = getattr(status, "signer_reported_dt", None) or getattr(status, "timestamp", None)
    if signing_time is not None:
        signing_time = signing_time.astimezone(UTC)
    timestamp_at, is_timestamp_valid = None, None
    ts = getattr(status, "timestamp_validity", None)  # a document time-stamp has none
    if ts is not None:
        timestamp_at = ts.timestamp.astimezone(UTC)
        is_timestamp_valid = bool(ts.intact and ts.valid and ts.trusted)
    return SignatureCheck(
        field_name=field_name,
        signer_common_name=cn,
        signer_organization=org,
        signer_certificate_sha256=cert_sha,
        algorithm=_algorithm_name(
            getattr(status, "pkcs7_signature_mechanism", None), status.md_algorithm
        ),
        signing_time=signing_time,
        is_intact=is_intact,
        is_trusted=is_trusted,
        trust_explanation=_trust_explanation(status),
        covers_whole_file=covers_whole,
        modification_level=level,
        modification_description=description,
        signed_revision_sha256=revision_sha,
        bottom_line=bool(getattr(status, "bottom_line", is_trusted))
        and is_intact
        and is_trusted
        and not changes,
        problem=None if is_intact else "the signature does not match the signed bytes",
        is_document_timestamp=is_timestamp,
        changes=changes,
        timestamp_at=timestamp_at,
        is_timestamp_valid=is_timestamp_valid,
        trust_problem=getattr(getattr(status, "trust_problem_indic", None), "name", None),
    )


def _signature_fields(
    reader: PdfFileReader, pdf: bytes
) -> list[EmbeddedPdfSignature | SignatureCheck]:
    """Every filled signature field: a readable signature, or the check saying why it is broken."""
    try:
        fields = list(enumerate_sig_fields(reader, filled_status=True))
    except Exception as exc:
        raise InvalidDocumentError("the PDF's form fields cannot be read") from exc
    found: list[EmbeddedPdfSignature | SignatureCheck] = []
    for name, value, field_ref in fields:
        try:
            found.append(EmbeddedPdfSignature(reader, field_ref, name))
        except Exception as exc:
            # A /ByteRange or /Contents that is missing or unreadable, or no CMS inside.
            kind = value.get("/Type") if isinstance(value, generic.DictionaryObject) else None
            found.append(
                _broken(
                    str(name),
                    f"the signature dictionary is unreadable: {exc}"[:300],
                    is_timestamp=kind == "/DocTimeStamp",
                )
            )
    return found


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
    reader, body = _open(pdf, max_bytes)
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

    def past_factory(moment: datetime) -> ValidationContext:
        # The same trust, at an instant in the past that a time-stamp proves.
        kwargs: dict[str, Any] = {
            "trust_roots": roots,
            "allow_fetching": False,
            "revocation_mode": "soft-fail",
            "moment": moment,
        }
        if gm_validator is not None:
            kwargs["signature_validator"] = gm_validator
        return ValidationContext(**kwargs)

    pairs: list[tuple[EmbeddedPdfSignature | None, SignatureCheck]] = [
        (None, item)
        if isinstance(item, SignatureCheck)
        else (item, _check_one(item, body, vc_factory))
        for item in _signature_fields(reader, body)
    ]
    checks = proven_in_the_past(pairs, past_factory)
    trailing = len(pdf) - len(body) if has_trailing_data(pdf, len(body)) else 0
    carried = {der: None for embedded, _ in pairs if embedded is not None for der in _carried_certificates(embedded)}
    return PdfValidationResult(
        file_sha256=hashlib.sha256(pdf).hexdigest(), signatures=checks, trailing_bytes=trailing, certificates_der=tuple(carried)
    )


def _carried_certificates(embedded: EmbeddedPdfSignature) -> list[bytes]:
    """The certificates in a signature's CMS and in its signature time-stamp tokens."""
    found: list[bytes] = []
    try:
        signed_data = embedded.signed_data
        found.extend(c.chosen.dump() for c in signed_data["certificates"] if c.name == "certificate")
        for signer_info in signed_data["signer_infos"]:
            for attr in signer_info["unsigned_attrs"] or ():
                if attr["type"].native != "signature_time_stamp_token":
                    continue
                for token in attr["values"]:
                    tst_certs = token["content"]["certificates"]
                    found.extend(c.chosen.dump() for c in tst_certs if c.name == "certificate")
    except Exception:  # an unreadable CMS carries nothing to list; its check says why
        return found
    return found
