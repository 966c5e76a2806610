"""GB/T 38540 seal data beside a PDF signature: what services call for SM2 seals.

GB/T 38540 defines no PDF binding (STANDARDS.md §1.5), so certsvc keeps the interoperable CMS
signature inside the PDF and, for every SM2 sealing, also produces an ``SES_Signature`` whose
``dataHash`` is the SM3 of the bytes the PDF signature covers (its /ByteRange) and whose
``propertyInfo`` names those ranges. It is stored with the certificate version and served at
``/api/v1/certificates/{identifier}/seal-signature``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from certsvc.crypto import ses, ses_verification
from certsvc.crypto.keys import KeyAlgorithm, SealKey
from certsvc.crypto.signing import SigningKey, sm2_signing
from certsvc.crypto.sm2 import sm3
from certsvc.crypto.timestamp_client import TimeStampTransport
from certsvc.crypto.timestamp_tokens import check_time_stamp_token, fetch_time_stamp_token
from certsvc.errors import InvalidDocumentError, SigningError

__all__ = [
    "SesCheck",
    "make_department_seal_data",
    "sign_pdf_ranges",
    "signed_ranges",
    "verify_pdf_ranges",
]

# A PDF signature dictionary's /ByteRange: four integers. The last one in the file belongs to
# the newest signature (each signature is its own incremental update).
_BYTE_RANGE = re.compile(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]")
_SEAL_TYPE_OFFICIAL = 1  # GM/T 0031 comment: 1 = 单位印章 (organisation seal)


@dataclass(frozen=True, slots=True)
class SesCheck:
    is_valid: bool
    codes: tuple[str, ...]
    messages: tuple[str, ...]
    # genTime of a valid GM/T 0033 token in SES_Signature.timeStamp; None without one.
    timestamp_at: datetime | None = None


def _sm2(key: SealKey, what: str):  # type: ignore[no-untyped-def]
    if key.algorithm is not KeyAlgorithm.SM2:
        raise SigningError(f"GB/T 38540 seal data needs an SM2 {what} key")
    return key._sm2_key()


def make_department_seal_data(
    *,
    es_id: str,
    seal_name: str,
    seal_certificate_der: bytes,
    maker_key: SealKey,
    maker_certificate_der: bytes,
    picture_png: bytes,
    diameter_mm: int,
    valid_start: datetime,
    valid_end: datetime,
    created_at: datetime,
) -> bytes:
    """The DER ``SESeal`` of a department seal, signed by the seal-making authority (制章者)."""
    return ses.make_seal(
        es_id=es_id,
        seal_name=seal_name,
        seal_type=_SEAL_TYPE_OFFICIAL,
        signer_cert_ders=[seal_certificate_der],
        valid_start=valid_start,
        valid_end=valid_end,
        created_at=created_at,
        picture_png=picture_png,
        width_mm=diameter_mm,
        height_mm=diameter_mm,
        maker_cert_der=maker_certificate_der,
        maker_key=_sm2(maker_key, "maker"),
    )


def signed_ranges(signed_pdf: bytes) -> tuple[tuple[int, int, int, int], bytes]:
    """The newest signature's /ByteRange and the bytes it covers.

    Raises:
        InvalidDocumentError: no usable /ByteRange.
    """
    matches = list(_BYTE_RANGE.finditer(signed_pdf))
    if not matches:
        raise InvalidDocumentError("the PDF has no signature byte range")
    a, b, c, d = (int(x) for x in matches[-1].groups())
    if a != 0 or b > c or c + d > len(signed_pdf):
        raise InvalidDocumentError("the PDF's signature byte range does not fit the file")
    return (a, b, c, d), signed_pdf[a : a + b] + signed_pdf[c : c + d]


def _property_info(ranges: tuple[int, int, int, int]) -> str:
    # GB/T 38540 TBS_Sign.propertyInfo "原文属性": at least the protected range (STANDARDS §1.2).
    return "PDF/ByteRange[{} {} {} {}]".format(*ranges)


def sign_pdf_ranges(
    signed_pdf: bytes,
    *,
    seal_der: bytes,
    key: SigningKey,
    signed_at: datetime,
    timestamp_transport: TimeStampTransport | None = None,
) -> bytes:
    """A DER ``SES_Signature`` over the SM3 of the bytes the PDF's newest signature covers;
    with ``timestamp_transport``, its ``timeStamp`` holds an SM3 time-stamp token of the
    signature value from that TSA.

    Raises:
        SigningError: ``key`` is not SM2, not listed in the seal, or the seal is not valid then.
        TimeStampUnavailableError: the TSA could not give the time-stamp.
    """
    ranges, covered = signed_ranges(signed_pdf)
    stamper = None
    if timestamp_transport is not None:
        transport = timestamp_transport

        def stamper(signature: bytes) -> bytes:
            return fetch_time_stamp_token(transport, signature, md="sm3")

    return ses.sign_document(
        seal_der=seal_der,
        signer_key=sm2_signing(key),
        signer_cert_der=key.certificate_der,
        data_hash_sm3=sm3(covered),
        property_info=_property_info(ranges),
        signed_at=signed_at,
        time_stamper=stamper,
    )


def verify_pdf_ranges(
    signed_pdf: bytes,
    signature_der: bytes,
    *,
    maker_certificates_der: list[bytes],
    trust_roots_der: Sequence[bytes] = (),
) -> SesCheck:
    """Check an ``SES_Signature`` against the PDF it was made for (STANDARDS §1.3 checklist);
    a ``timeStamp`` must cover the signature value and come from a TSA chaining to
    ``trust_roots_der`` (else ``ses_timestamp_invalid``)."""
    try:
        info = ses.parse_signature(signature_der)
        _, covered = signed_ranges(signed_pdf[: _revision_end(signed_pdf, info.property_info)])
    except (InvalidDocumentError, SigningError, ValueError) as exc:
        return SesCheck(False, ("ses_malformed",), (str(exc),))
    report = ses_verification.verify_ses_signature(
        signature_der, document_hash=sm3(covered), maker_trust=maker_certificates_der
    )
    codes, messages = list(report.codes), [r.message for r in report.reasons]
    timestamp_at = None
    if info.time_stamp is not None:
        check = check_time_stamp_token(
            info.time_stamp, info.signature, trust_roots_der=trust_roots_der
        )
        if check.is_valid:
            timestamp_at = check.gen_time
        else:
            codes.append("ses_timestamp_invalid")
            messages.append(check.problem or "the time-stamp does not verify")
    return SesCheck(not codes, tuple(codes), tuple(messages), timestamp_at)


def _revision_end(pdf: bytes, property_info: str) -> int:
    """The end of the revision named by ``propertyInfo`` (later incremental updates are ignored)."""
    found = re.fullmatch(r"PDF/ByteRange\[(\d+) (\d+) (\d+) (\d+)\]", property_info)
    if not found:
        raise ValueError("propertyInfo does not name a PDF byte range")
    c, d = int(found.group(3)), int(found.group(4))
    return c + d
