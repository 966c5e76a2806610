"""What the reference validator found in a freshly sealed PDF, as a value that can be stored.

The producer validates each sealed file once (``validate_pdf``, the reference) and keeps the
outcome; a later check of the very same bytes reuses it and re-evaluates only what time and
configuration can change: the validity window of every certificate the file carries (and of
the trust roots that issued them) at the checking time, the set of trust roots, and the seal
makers. Everything else in a :class:`SignatureCheck` (integrity, coverage, later revisions,
signer, claimed and time-stamped times) is a function of the bytes alone.

Only an all-good outcome is worth recording: anything else is evaluated again by the reference.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asn1crypto import cms
from asn1crypto import x509 as asn1_x509

from certsvc.crypto.pdf_validation import ModificationLevel, PdfValidationResult, SignatureCheck
from certsvc.crypto.ses import parse_signature

__all__ = [
    "CertificateWindow",
    "certificate_windows",
    "checks_from_json",
    "checks_to_json",
    "is_all_good",
    "ses_timestamp_certificates",
    "set_fingerprint",
    "windows_from_json",
    "windows_hold",
    "windows_to_json",
]

# pyhanko-certvalidator tolerates one second around a validity bound; within this margin of
# any bound the reference decides instead.
_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class CertificateWindow:
    """One certificate's validity period."""

    not_before: datetime
    not_after: datetime

    def contains(self, at: datetime) -> bool:
        """True only when ``at`` is inside the window and not near either bound."""
        return self.not_before + _MARGIN <= at <= self.not_after - _MARGIN


def set_fingerprint(ders: Sequence[bytes]) -> str:
    """SHA-256 naming a set of certificates, whatever their order or repetition."""
    return hashlib.sha256(b"".join(sorted({hashlib.sha256(d).digest() for d in ders}))).hexdigest()


def certificate_windows(
    carried_der: Sequence[bytes], trust_roots_der: Sequence[bytes]
) -> tuple[CertificateWindow, ...]:
    """The validity windows of ``carried_der`` and of every trust root whose subject issued one
    of them (a path through the file's certificates can only end at such a root).

    Raises:
        ValueError: a certificate is not DER X.509.
    """
    carried = [asn1_x509.Certificate.load(d) for d in carried_der]
    issuers = {c.issuer.dump() for c in carried}
    roots = [
        r
        for r in (asn1_x509.Certificate.load(d) for d in trust_roots_der)
        if r.subject.dump() in issuers
    ]
    windows = {}
    for cert in [*carried, *roots]:
        validity = cert["tbs_certificate"]["validity"]
        window = CertificateWindow(validity["not_before"].native, validity["not_after"].native)
        windows[(window.not_before, window.not_after)] = window
    return tuple(windows.values())


def windows_to_json(windows: Sequence[CertificateWindow]) -> list[list[str]]:
    return [[w.not_before.isoformat(), w.not_after.isoformat()] for w in windows]


def windows_from_json(items: Sequence[Sequence[str]]) -> tuple[CertificateWindow, ...]:
    """Raises ValueError, TypeError: not what :func:`windows_to_json` writes."""
    windows = tuple(CertificateWindow(_aware(a), _aware(b)) for a, b in items)
    return windows


def _aware(value: str) -> datetime:
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError("a recorded time has no time zone")
    return parsed


def windows_hold(windows: Sequence[CertificateWindow], at: datetime) -> bool:
    return all(w.contains(at) for w in windows)


def ses_timestamp_certificates(signature_der: bytes) -> tuple[bytes, ...]:
    """The certificates inside a GB/T 38540 ``SES_Signature``'s time-stamp token (none without one).

    Raises:
        ValueError: not an ``SES_Signature``, or a time-stamp that is not a CMS ``SignedData``.
    """
    token = parse_signature(signature_der).time_stamp
    if token is None:
        return ()
    signed = cms.ContentInfo.load(token)["content"]
    return tuple(c.chosen.dump() for c in signed["certificates"] if c.name == "certificate")


def is_all_good(result: PdfValidationResult) -> bool:
    """Every signature intact, evaluated, trusted now (not only in the past), unchanged after,
    with a valid time-stamp when it has one; nothing appended."""
    if not result.signatures or result.trailing_bytes:
        return False
    for sig in result.signatures:
        if not (
            sig.is_evaluated and sig.is_intact and sig.is_trusted and sig.trust_explanation is None
        ):
            return False
        if sig.changes or sig.modification_level not in (
            ModificationLevel.NONE,
            ModificationLevel.ARCHIVAL,
        ):
            return False
        if (
            sig.proven_by is not None
            or sig.validated_in_past_at is not None
            or sig.trust_problem is not None
        ):
            return False
        if sig.is_timestamp_valid is False or not sig.signer_certificate_sha256:
            return False
        if not sig.is_document_timestamp and not sig.bottom_line:
            return False
    return True


_TIMES = ("signing_time", "timestamp_at", "validated_in_past_at")
_KEPT = (
    "field_name", "signer_common_name", "signer_organization", "signer_certificate_sha256", "algorithm",
    "is_intact", "is_trusted", "trust_explanation", "covers_whole_file", "modification_description",
    "signed_revision_sha256", "bottom_line", "problem", "is_evaluated", "is_document_timestamp",
    "is_timestamp_valid", "trust_problem", "proven_by",
)  # fmt: skip


def checks_to_json(checks: Sequence[SignatureCheck]) -> list[dict[str, Any]]:
    """All-good checks (:func:`is_all_good`) as JSON values; ``changes`` is always empty there.

    Raises:
        ValueError: a check lists changes after its revision (such a result is not recorded).
    """
    out = []
    for check in checks:
        if check.changes:
            raise ValueError("a check with changes after signing is not recorded")
        item: dict[str, Any] = {name: getattr(check, name) for name in _KEPT}
        item["modification_level"] = check.modification_level.value
        for name in _TIMES:
            value = getattr(check, name)
            item[name] = value.isoformat() if value is not None else None
        out.append(item)
    return out


def checks_from_json(items: Sequence[dict[str, Any]]) -> tuple[SignatureCheck, ...]:
    """The checks :func:`checks_to_json` wrote.

    Raises:
        ValueError, KeyError, TypeError: not what :func:`checks_to_json` writes.
    """
    checks = []
    for item in items:
        values: dict[str, Any] = {name: item[name] for name in _KEPT}
        values.update({name: _time(item[name]) for name in _TIMES})
        values["modification_level"] = ModificationLevel(item["modification_level"])
        checks.append(SignatureCheck(**values))
    return tuple(checks)


def _time(value: str | None) -> datetime | None:
    if value is None:
        return None
    return _aware(value)
