"""The OFD of a delivered version at the hub: checked on arrival, kept, verified on request.

A member delivers the version's sealed OFD (GB/T 38540 seal, docs/ofd.md) beside its PDF when it
made one. The hub accepts it only when every seal is intact, its GB/T 38540 seal data holds, its
certificate chains to **that member's** roots and the OFD's own metadata names the licence
delivered; it is then kept byte for byte (the member's original seal), like the PDF.

An OFD seal does not carry the CA certificates between the seal's certificate and the root (a
PDF signature does), so the member sends them (``DeliveredOfd.chain``) and the hub keeps them
with the file. They only help build the path: the member's pinned roots decide, and the seal
maker (制章者) must be one of those roots or issued directly by one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import textwrap
from dataclasses import dataclass

from certsvc.crypto import api as crypto
from certsvc.domain.reports import Reason, SignatureDetail
from certsvc.errors import DocumentTooLargeError, InvalidDocumentError, ValidationFailedError
from certsvc.services.context import ServiceContext
from certsvc.services.region_payload import Delivery
from certsvc.services.verification_ofd import ofd_seal_reasons

__all__ = [
    "CheckedOfd",
    "certificates_pem",
    "check_delivered_ofd",
    "is_ofd",
    "ofd_chain",
    "verify_ofd_against",
]

_IDENTIFIER = "电子证照标识"  # GB/T 36903 name of the licence identifier in OFD CustomDatas
_ISSUER_CODE = "证照颁发机构代码"
_ACCEPTED = frozenset({"signature_valid", "seal_data_valid"})


@dataclass(frozen=True, slots=True)
class CheckedOfd:
    data: bytes
    chain_pem: str  # the CA certificates the seal chains through, as delivered


def certificates_pem(ders: list[bytes]) -> str:
    """DER certificates as one PEM text (how the hub keeps a member's certificates)."""
    return "".join(
        "-----BEGIN CERTIFICATE-----\n"
        + "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
        + "\n-----END CERTIFICATE-----\n"
        for der in ders
    )


def is_ofd(data: bytes) -> bool:
    """An OFD package is a ZIP file."""
    return data[:4] == b"PK\x03\x04"


def ofd_chain(chain_pem: str | None) -> list[bytes]:
    return crypto.certificates_from_pem(chain_pem.encode()) if chain_pem else []


def verify_ofd_against(
    ctx: ServiceContext, data: bytes, *, roots: list[bytes], chain: list[bytes]
) -> tuple[crypto.OfdValidationResult, list[Reason], list[SignatureDetail]]:
    """The OFD's seals checked against one member's roots, in the report's reason codes.

    Raises:
        InvalidDocumentError, DocumentTooLargeError: not a readable OFD, or too large.
    """
    result = crypto.validate_ofd(
        data,
        trust_roots_der=roots,
        maker_certificates_der=roots,
        intermediates_der=chain,
        validation_time=ctx.clock.now(),
        max_bytes=ctx.settings.max_upload_bytes,
    )
    reasons, details = ofd_seal_reasons(result)
    return result, reasons, details


def check_delivered_ofd(
    ctx: ServiceContext, delivery: Delivery, roots: list[bytes]
) -> CheckedOfd | None:
    """The delivery's OFD, checked (see the module docstring); None when it carries none.

    Raises:
        ValidationFailedError: ``file_digest_mismatch``, ``metadata_mismatch`` (the OFD names
            another licence), a chain certificate that is not one.
        DocumentTooLargeError: larger than ``max_upload_bytes``.
        InvalidDocumentError: ``seal_not_trusted``, or not an OFD package.
    """
    if delivery.ofd is None:
        return None
    try:
        data = base64.b64decode(delivery.ofd.content_base64, validate=True)
        chain = [base64.b64decode(c, validate=True) for c in delivery.ofd.chain]
        for der in chain:
            crypto.certificate_summary(der)
    except (binascii.Error, ValueError, InvalidDocumentError) as exc:
        raise ValidationFailedError(
            "the OFD or a certificate of its chain is not base64 DER",
            details=[{"field": "ofd", "problem": "base64 DER"}],
        ) from exc
    if len(data) > ctx.settings.max_upload_bytes:
        raise DocumentTooLargeError(
            "the delivered OFD is too large", details={"limit": ctx.settings.max_upload_bytes}
        )
    if hashlib.sha256(data).hexdigest() != delivery.ofd.sha256:
        raise ValidationFailedError(
            "the OFD's SHA-256 is not the one stated", code="file_digest_mismatch"
        )
    if not is_ofd(data):
        raise InvalidDocumentError("the delivered OFD is not an OFD package")
    result, reasons, _ = verify_ofd_against(ctx, data, roots=roots, chain=chain)
    problems = [r for r in reasons if r.code not in _ACCEPTED]
    if problems:
        raise InvalidDocumentError(
            "the OFD's seals do not verify against this member's trust roots: "
            + "; ".join(r.message_en for r in problems)[:400],
            code="seal_not_trusted",
            details=[{"code": r.code, "problem": r.message_en} for r in problems],
        )
    named = (result.metadata.get(_IDENTIFIER), result.metadata.get(_ISSUER_CODE))
    if named != (delivery.licence.identifier, delivery.licence.department_code):
        raise ValidationFailedError(
            "the OFD's own GB/T 36903 metadata does not name the licence delivered",
            code="metadata_mismatch",
            details=[{"field": "ofd", "problem": "names another licence"}],
        )
    return CheckedOfd(data, certificates_pem(chain))
