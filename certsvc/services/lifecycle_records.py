"""What every lifecycle change writes besides the licence row: the status-history row
(verification reads it to tell the state at signing time), the audit event and the department's
webhook events; and the result a change reports. Shared by the state-only changes
(``services.lifecycle``) and the new-version ones (``services.lifecycle_versions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from certsvc.domain.status import LicenceAction, LicenceStatus, effective_status
from certsvc.domain.status_reasons import ReasonCategory
from certsvc.errors import ValidationFailedError
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal
from certsvc.services.webhooks import enqueue_event
from certsvc.storage.orm import Certificate
from certsvc.storage.orm_lifecycle import StatusChange
from certsvc.storage.repositories_lifecycle import StatusHistoryRepository

__all__ = ["LifecycleBase", "LifecycleResult", "checked_reason"]


@dataclass(frozen=True, slots=True)
class LifecycleResult:
    identifier: str  # the licence's current identifier after the action
    previous_identifier: str
    action: str
    status: str  # effective status after the action
    version: int  # current registry revision
    sha256: str  # the current version's signed file
    changed_at: datetime


class LifecycleBase:
    """The context and the per-change records every lifecycle action shares."""

    def __init__(self, ctx: ServiceContext, *, background_webhooks: bool = True) -> None:
        self.ctx = ctx
        self.background_webhooks = background_webhooks

    # --- helpers ---------------------------------------------------------------------------
    def _effective(self, cert: Certificate) -> LicenceStatus:
        return effective_status(
            LicenceStatus(cert.status),
            valid_from=cert.valid_from,
            valid_until=cert.valid_until,
            today=self.ctx.clock.now().date(),
        )

    def _record(
        self,
        session: Any,
        cert: Certificate,
        action: LicenceAction,
        before: LicenceStatus,
        after: LicenceStatus,
        reason: str,
        principal: Principal,
        now: datetime,
        request_id: str | None,
        *,
        extra: dict[str, Any] | None = None,
        category: ReasonCategory = ReasonCategory.OTHER,
    ) -> None:
        StatusHistoryRepository(session).add(
            StatusChange(
                certificate_id=cert.id,
                at=now,
                action=action.value,
                from_status=before.value,
                to_status=after.value,
                reason=reason,
                version=cert.current_version,
                identifier=cert.identifier,
                actor=principal.label,
                category=category.value,
            )
        )
        append_audit_event(
            session,
            at=now,
            actor=principal,
            action=f"certificate.{action.value}",
            target=cert.identifier,
            request_id=request_id,
            details={
                "from": before.value,
                "to": after.value,
                "reason": reason,
                "category": category.value,
                **(extra or {}),
            },
        )

    def _enqueue(
        self,
        session: Any,
        cert: Certificate,
        action: LicenceAction,
        before: LicenceStatus,
        after: LicenceStatus,
        reason: str,
        previous_identifier: str,
        now: datetime,
    ) -> list[int]:
        return enqueue_event(
            session,
            department_id=cert.department_id,
            event_type=f"certificate.{action.value}",
            data={
                "identifier": cert.identifier,
                "previous_identifier": previous_identifier,
                "department_code": cert.department.code,
                "action": action.value,
                "from_status": before.value,
                "to_status": after.value,
                "reason": reason,
                "version": cert.current_version,
            },
            now=now,
        )


def checked_reason(reason: str) -> str:
    """The stripped reason; raises ``ValidationFailedError`` unless it has 1 to 500 characters."""
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise ValidationFailedError(
            "a reason is required", details=[{"field": "reason", "problem": "1 to 500 characters"}]
        )
    return reason
