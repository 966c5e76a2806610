"""What the registry says about the version a file is, as reasons: the same for PDF and OFD."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from certsvc.domain.reports import Reason, RegistryView, SignatureDetail, VerificationReport, reason
from certsvc.domain.status import LicenceStatus

__all__ = ["STATUS_REASONS", "registry_reasons", "report_with_registry"]

STATUS_REASONS = {
    LicenceStatus.VALID: "licence_valid",
    LicenceStatus.SUSPENDED: "licence_suspended",
    LicenceStatus.REVOKED: "licence_revoked",
    LicenceStatus.CANCELLED: "licence_cancelled",
    LicenceStatus.EXPIRED: "licence_expired",
}


def registry_reasons(registry: RegistryView) -> list[Reason]:
    """The version's place among the licence's versions, and the licence's status.

    An earlier version of the current page (a later version only re-sealed it) is the same
    licence; an earlier version of another page (an amendment, a re-issue) is superseded. A
    revoked seal (key compromise included) is judged per signature by
    ``domain/revocation_policy.py``, with the registry's sealing time as one of its proofs.
    """
    reasons: list[Reason] = []
    if registry.version < registry.current_version:
        if registry.is_current_content:
            sealed = registry.sealed_at.isoformat() if registry.sealed_at else "?"
            reasons.append(
                reason(
                    "earlier_seal_of_current",
                    detail=f"sealed {sealed} as version {registry.version}; re-sealed as version {registry.current_version}",
                    detail_zh=f"第 {registry.version} 版签章于 {sealed}，已重新签章为第 {registry.current_version} 版",
                )
            )
        else:
            reasons.append(
                reason(
                    "licence_superseded",
                    detail=f"superseded by version {registry.current_version}: {registry.current_identifier}",
                )
            )
    status = LicenceStatus(registry.status)
    if status in STATUS_REASONS:
        reasons.append(reason(STATUS_REASONS[status]))
    return reasons


def report_with_registry(
    reasons: list[Reason],
    *,
    registry: RegistryView | None,
    signatures: Sequence[SignatureDetail],
    checked_at: datetime,
    file_sha256: str,
) -> VerificationReport:
    """The report of a file (PDF or OFD): its own reasons, then what the registry says of it."""
    reasons = [
        *reasons,
        *(registry_reasons(registry) if registry is not None else [reason("not_in_registry")]),
    ]
    return VerificationReport(
        verdict=VerificationReport.combine(reasons),
        reasons=tuple(reasons),
        signatures=tuple(signatures),
        registry=registry,
        checked_at=checked_at,
        file_sha256=file_sha256,
    )
