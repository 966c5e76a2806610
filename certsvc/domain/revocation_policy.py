"""The one rule for seals whose certificate is revoked, key compromise included (docs/ltv.md).

A revocation has an invalidity time ``invalid_from``: for a key compromise, the earliest time
the key may have been in other hands (``certsvc seal revoke --reason key-compromise --at`` and
``certsvc batch resign --compromised-at`` record the same thing); otherwise when the revocation
took effect. A seal by that certificate counts only if it is *proven* made before then. Two
things prove when a seal was made, and nothing else does (a signer's own claimed time never):

* a trusted time-stamp on the signature (PAdES B-T and above, valid, or proven by a document
  time-stamp), which is how any relying party, with or without the registry, can tell;
* the registry's record that certsvc itself sealed exactly this file at ``sealed_at`` — a thief
  of the key can forge a file but not a registry row.

Made before ``invalid_from`` → ``sealed_before_revocation`` (valid). Made at or after it →
``sealed_after_key_compromise`` for a key compromise, ``seal_revoked`` otherwise (invalid).
Nothing proves when → ``seal_revoked`` (invalid).
"""

from __future__ import annotations

from datetime import datetime

from certsvc.domain.reports import Reason, SealRevocationView, reason

__all__ = ["KEY_COMPROMISE", "SealRevocationView", "revoked_seal_reason"]

KEY_COMPROMISE = "key-compromise"


def revoked_seal_reason(
    revocation: SealRevocationView,
    *,
    timestamped_at: datetime | None,
    registered_at: datetime | None,
) -> Reason:
    """The reason for one seal by a revoked certificate, from the proofs of when it was made:
    ``timestamped_at`` (a trusted time-stamp's time, or None) and ``registered_at`` (when the
    registry sealed this very file, or None)."""
    proofs = [
        (t, how)
        for t, how in ((timestamped_at, "time-stamped"), (registered_at, "sealed by the registry"))
        if t is not None
    ]
    limit = revocation.invalid_from.isoformat()
    if not proofs:
        return reason(
            "seal_revoked",
            detail=f"{revocation.reason}, not trusted from {limit}; nothing proves when it was sealed",
        )
    # The earliest proof decides: both are trustworthy, and either shows the seal existed then.
    made, how = min(proofs, key=lambda p: p[0])
    if made < revocation.invalid_from:
        return reason(
            "sealed_before_revocation",
            detail=f"{how} {made.isoformat()}; {revocation.reason}, not trusted from {limit}",
        )
    if revocation.reason == KEY_COMPROMISE:
        return reason(
            "sealed_after_key_compromise",
            detail=f"{how} {made.isoformat()}, key compromised since {limit}",
            detail_zh=f"签章于 {made.isoformat()}，密钥自 {limit} 起泄露",
        )
    return reason(
        "seal_revoked",
        detail=f"{how} {made.isoformat()}; {revocation.reason}, not trusted from {limit}",
    )
