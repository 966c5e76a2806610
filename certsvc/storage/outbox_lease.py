"""The lease of an outbox row: one process at a time makes the next delivery attempt.

Shared by every outbox (department webhooks, the upstream connector): a row with ``id``,
``status``, ``attempts``, ``lease_owner`` and ``lease_until`` columns.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

__all__ = ["lease_outbox_row"]


def lease_outbox_row(
    session: Session,
    model: Any,
    row_id: int,
    *,
    owner: str,
    attempts: int,
    now: datetime,
    until: datetime,
) -> bool:
    """Take (or renew) the right to make attempt ``attempts + 1`` of a pending row; False if another has it.

    One conditional UPDATE: of several processes racing for a pending row exactly one matches.
    A lease that ran out (its holder died) is free again, and ``attempts`` must be what the
    caller last saw, so a process that lost the lease never sends again.
    """
    leased = session.execute(
        update(model)
        .where(
            model.id == row_id,
            model.status == "pending",
            model.attempts == attempts,
            or_(model.lease_until.is_(None), model.lease_until < now, model.lease_owner == owner),
        )
        .values(lease_owner=owner, lease_until=until)
        .execution_options(synchronize_session=False)
    )
    return bool(leased.rowcount == 1)  # type: ignore[attr-defined]  # a CursorResult
