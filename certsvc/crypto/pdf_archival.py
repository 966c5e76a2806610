"""Proof of existence from document time-stamps (PAdES B-LTA): a seal whose chain has ended.

ETSI EN 319 102-1 §5.6.2, simplified to what certsvc's licences carry: the newest document
time-stamp that is valid at the validation time proves that everything before its revision
existed at its ``genTime``. As of that instant, the seal's own signature time-stamp is checked
(its TSA certificate may have ended since: that is what ``certsvc ltv renew`` adds newer
document time-stamps for), and then the seal's chain at the signature time-stamp's instant.
Intermediate document time-stamps need no separate check: the newest one covers them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko_certvalidator import ValidationContext

if TYPE_CHECKING:  # pdf_validation calls this module
    from certsvc.crypto.pdf_validation import SignatureCheck

__all__ = ["proven_in_the_past"]

# Trust problems an archival time-stamp may cure: a certificate of the chain no longer valid at
# the validation time (pyHanko reports an expired intermediate as a general chain failure).
# The chain is then validated in full at the proven instant, so a chain broken for any other
# reason fails there too; a missing chain or a wrong key usage is never retried.
_CURABLE_BY_POE = {"EXPIRED", "OUT_OF_BOUNDS_NO_POE", "CERTIFICATE_CHAIN_GENERAL_FAILURE"}

PastContext = Callable[[datetime], ValidationContext]


def _revision_end(embedded: EmbeddedPdfSignature) -> int:
    byte_range = [int(x) for x in embedded.byte_range]
    return byte_range[2] + byte_range[3]


def proven_in_the_past(
    pairs: list[tuple[EmbeddedPdfSignature | None, SignatureCheck]], past_factory: PastContext
) -> tuple[SignatureCheck, ...]:
    """The checks, with every seal that a valid document time-stamp proves made re-judged:
    valid when its signature time-stamp validates at the document time-stamp's instant and its
    chain at the signature time-stamp's."""
    stamps = [
        (_revision_end(e), c) for e, c in pairs
        if e is not None and c.is_document_timestamp and c.is_intact and c.is_trusted and not c.changes
        and c.signing_time is not None
    ]  # fmt: skip
    out = []
    for embedded, check in pairs:
        if (
            embedded is not None
            and not check.is_document_timestamp
            and not check.is_trusted
            and check.is_intact
            and check.trust_problem in _CURABLE_BY_POE
            and check.timestamp_at is not None
        ):
            end = _revision_end(embedded)
            archival = next((c for e, c in reversed(stamps) if e > end), None)
            if archival is not None and archival.signing_time is not None:
                check = _judged_at(embedded, check, archival, past_factory)
        out.append(check)
    return tuple(out)


def _judged_at(
    embedded: EmbeddedPdfSignature,
    check: SignatureCheck,
    archival: SignatureCheck,
    past_factory: PastContext,
) -> SignatureCheck:
    assert check.timestamp_at is not None and archival.signing_time is not None
    try:
        past = validate_pdf_signature(
            embedded,
            signer_validation_context=past_factory(check.timestamp_at),
            # The signature time-stamp as of the archival instant: its TSA may have ended since.
            ts_validation_context=past_factory(archival.signing_time),
            skip_diff=True,
        )
    except Exception:
        return check
    stamp = getattr(past, "timestamp_validity", None)
    if not (
        past.trusted
        and past.intact
        and past.valid
        and stamp is not None
        and stamp.intact
        and stamp.valid
        and stamp.trusted
    ):
        return check
    when = archival.signing_time.isoformat()
    return replace(
        check,
        is_trusted=True,
        trust_explanation=None,
        bottom_line=not check.changes,
        is_timestamp_valid=True,
        validated_in_past_at=check.timestamp_at,
        proven_by=(
            f"signature time-stamp {check.timestamp_at.isoformat()} and document time-stamp "
            f"{when} by {archival.signer_common_name or 'a trusted TSA'}"
        ),
    )
