"""Licence status values and the rules for moving between them."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from certsvc.errors import IllegalTransitionError

__all__ = [
    "TRANSITIONS",
    "LicenceAction",
    "LicenceStatus",
    "allowed_actions",
    "effective_status",
    "transition",
]


class LicenceStatus(StrEnum):
    VALID = "valid"  # 有效
    SUSPENDED = "suspended"  # 暂扣
    REVOKED = "revoked"  # 吊销/撤销
    CANCELLED = "cancelled"  # 注销
    EXPIRED = "expired"  # 已过期 (computed from the validity period, never stored)
    SUPERSEDED = "superseded"  # 已变更 (a newer version exists; a property of a version)


def effective_status(
    stored: LicenceStatus, *, valid_from: date, valid_until: date, today: date
) -> LicenceStatus:
    """The status a reader should see today: a stored ``valid`` past its last day is expired.

    A licence whose period has not started yet stays ``valid``: it was lawfully issued, and the
    verification report states the period separately.
    """
    del valid_from  # kept in the signature so callers pass the whole period explicitly
    if stored is LicenceStatus.VALID and today > valid_until:
        return LicenceStatus.EXPIRED
    return stored


class LicenceAction(StrEnum):
    """What an issuing department may do to a licence after issuing it."""

    SUSPEND = "suspend"  # 暂扣
    RESUME = "resume"  # 恢复 (end of a suspension)
    REVOKE = "revoke"  # 吊销/撤销
    CANCEL = "cancel"  # 注销
    AMEND = "amend"  # 变更: changed data, a new version
    REISSUE = "reissue"  # 补发: the same data sealed again as a new version


# (state seen by the reader, action) -> stored state afterwards. The "from" side is the
# *effective* status, so an expired licence can be cancelled or revoked but not suspended,
# amended or re-issued (it would need a renewal, 延续, which is a new licence).
# Revoked and cancelled are final: 吊销/注销 cannot be undone, only a new licence can be issued.
TRANSITIONS: dict[tuple[LicenceStatus, LicenceAction], LicenceStatus] = {
    (LicenceStatus.VALID, LicenceAction.SUSPEND): LicenceStatus.SUSPENDED,
    (LicenceStatus.VALID, LicenceAction.REVOKE): LicenceStatus.REVOKED,
    (LicenceStatus.VALID, LicenceAction.CANCEL): LicenceStatus.CANCELLED,
    (LicenceStatus.VALID, LicenceAction.AMEND): LicenceStatus.VALID,
    (LicenceStatus.VALID, LicenceAction.REISSUE): LicenceStatus.VALID,
    (LicenceStatus.SUSPENDED, LicenceAction.RESUME): LicenceStatus.VALID,
    (LicenceStatus.SUSPENDED, LicenceAction.REVOKE): LicenceStatus.REVOKED,
    (LicenceStatus.SUSPENDED, LicenceAction.CANCEL): LicenceStatus.CANCELLED,
    (LicenceStatus.EXPIRED, LicenceAction.REVOKE): LicenceStatus.REVOKED,
    (LicenceStatus.EXPIRED, LicenceAction.CANCEL): LicenceStatus.CANCELLED,
}


def allowed_actions(current: LicenceStatus) -> tuple[LicenceAction, ...]:
    """The actions allowed from ``current`` (an effective status), in declaration order."""
    return tuple(action for (state, action) in TRANSITIONS if state is current)


def transition(current: LicenceStatus, action: LicenceAction) -> LicenceStatus:
    """The stored status after ``action`` on a licence whose effective status is ``current``.

    Raises:
        IllegalTransitionError: the action is not allowed from ``current`` (code
            ``illegal_transition``; details name the state, the action and what is allowed).
    """
    target = TRANSITIONS.get((current, action))
    if target is None:
        allowed = [a.value for a in allowed_actions(current)]
        raise IllegalTransitionError(
            f"'{action.value}' is not allowed on a {current.value} licence",
            details={"status": current.value, "action": action.value, "allowed": allowed},
        )
    return target
