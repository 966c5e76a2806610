"""Single time-stamp tokens outside a PDF signature: fetching one for some bytes, checking one.

Used where a token is stored on its own, such as GB/T 38540 ``SES_Signature.timeStamp`` (a
GM/T 0033 token over the signature value). Tokens inside PDF signatures are handled by
pyHanko through :mod:`certsvc.crypto.timestamp_client`.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
from pyhanko.sign.validation.status import TimestampSignatureStatus
from pyhanko_certvalidator import ValidationContext

from certsvc.crypto._pyhanko_gm import GmSignatureValidator
from certsvc.crypto.timestamp_client import TimeStampTransport, TransportTimeStamper

__all__ = ["TimeStampCheck", "check_time_stamp_token", "fetch_time_stamp_token"]


def _digest(md: str, data: bytes) -> bytes:
    if md == "sm3":
        from certsvc.crypto.sm2 import sm3

        return sm3(data)
    return hashlib.new(md, data).digest()


def fetch_time_stamp_token(transport: TimeStampTransport, data: bytes, *, md: str) -> bytes:
    """A DER TimeStampToken over ``md(data)`` from the TSA behind ``transport``.

    Raises:
        TimeStampUnavailableError: the TSA refused, answered for something else, or is down.
    """
    stamper = TransportTimeStamper(transport)
    token = asyncio.run(stamper.async_timestamp(_digest(md, data), md))
    der: bytes = token.dump()
    return der


@dataclass(frozen=True, slots=True)
class TimeStampCheck:
    """A token checked against the bytes it should cover and the trusted roots."""

    is_valid: bool  # imprint matches, signature verifies, TSA certificate trusted for time-stamping
    gen_time: datetime | None
    problem: str | None


def check_time_stamp_token(
    token_der: bytes, data: bytes, *, trust_roots_der: Sequence[bytes]
) -> TimeStampCheck:
    """Check ``token_der`` as a time-stamp of ``data`` (its imprint's own digest algorithm),
    signed by a TSA whose certificate chains to ``trust_roots_der`` and allows time-stamping.
    SM2 tokens (GM/T 0033) are checked too. Never raises for bad input."""
    try:
        token = cms.ContentInfo.load(token_der, strict=True)
        signed = token["content"]
        info = signed["encap_content_info"]["content"].parsed
        gen_time: datetime | None = info["gen_time"].native.astimezone(UTC)
    except Exception as exc:
        return TimeStampCheck(False, None, f"not a TimeStampToken ({type(exc).__name__})")
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(d) for d in trust_roots_der],
        allow_fetching=False,
        revocation_mode="soft-fail",
        signature_validator=GmSignatureValidator(),
    )
    try:
        status = TimestampSignatureStatus(
            **asyncio.run(validate_tst_signed_data(signed, context, lambda md: _digest(md, data)))
        )
    except Exception as exc:
        # pyHanko raises when the imprint does not match or the structure is unusable.
        return TimeStampCheck(False, gen_time, f"the time-stamp does not verify: {str(exc)[:160]}")
    if not status.intact:
        return TimeStampCheck(False, gen_time, "the time-stamp covers other data")
    if not status.valid:
        return TimeStampCheck(False, gen_time, "the time-stamp's signature does not verify")
    if not status.trusted:
        return TimeStampCheck(False, gen_time, "the time-stamping authority is not trusted")
    return TimeStampCheck(True, gen_time, None)
