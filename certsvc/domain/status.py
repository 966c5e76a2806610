"""Licence status values and the rules for moving between them."""

from __future__ import annotations

from datetime import date
from enum import StrEnum

__all__ = ["LicenceStatus", "effective_status"]


class LicenceStatus(StrEnum):
    VALID = "valid"  # 有效
    SUSPENDED = "suspended"  # 暂扣
    REVOKED = "revoked"  # 吊销/撤销
    CANCELLED = "cancelled"  # 注销
    EXPIRED = "expired"  # 已过期 (computed from the validity period, never stored)
    SUPERSEDED = "superseded"  # 已变更 (a newer version exists; a property of a version)


def effective_status(stored: LicenceStatus, *, valid_from: date, valid_until: date, today: date) -> LicenceStatus:
    """The status a reader should see today: a stored ``valid`` past its last day is expired.

    A licence whose period has not started yet stays ``valid``: it was lawfully issued, and the
    verification report states the period separately.
    """
    del valid_from  # kept in the signature so callers pass the whole period explicitly
    if stored is LicenceStatus.VALID and today > valid_until:
        return LicenceStatus.EXPIRED
    return stored
