"""The licence lifecycle: suspend, resume, revoke, cancel, amend (变更) and reissue (补发).

State-only changes and the state history live here; amend and reissue, which make a new
version, in ``services.lifecycle_versions``; what every change records, in
``services.lifecycle_records``. The allowed transitions are the domain's
(``domain.status.TRANSITIONS``). Every change writes, in one transaction: the licence row, a
status-history row (verification reads it to tell the state at signing time), an audit event
and the department's webhook events.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from certsvc.domain.status import LicenceAction, transition
from certsvc.domain.status_reasons import ReasonCategory
from certsvc.errors import ValidationFailedError
from certsvc.services.access import licence_access, visible_licence
from certsvc.services.audit import append_audit_event
from certsvc.services.lifecycle_records import LifecycleResult, checked_reason
from certsvc.services.lifecycle_versions import LifecycleVersions
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.upstream import record_change
from certsvc.services.webhooks import WebhookService
from certsvc.storage.repositories import CertificateRepository
from certsvc.storage.repositories_lifecycle import StatusHistoryRepository

__all__ = ["STATUS_ACTIONS", "LifecycleService", "StatusChangeInfo"]

# The actions that change only the state (no new file).
STATUS_ACTIONS = (
    LicenceAction.SUSPEND,
    LicenceAction.RESUME,
    LicenceAction.REVOKE,
    LicenceAction.CANCEL,
)


@dataclass(frozen=True, slots=True)
class StatusChangeInfo:
    at: datetime
    action: str
    from_status: str
    to_status: str
    reason: str
    version: int
    identifier: str
    actor: str
    category: str  # a ReasonCategory value: what the public page may say about why


class LifecycleService(LifecycleVersions):
    """Every lifecycle action on a licence: the state-only ones here, amend and reissue inherited."""

    # --- state only ----------------------------------------------------------------------
    def change_status(
        self,
        identifier: str,
        action: LicenceAction,
        *,
        reason: str,
        principal: Principal,
        request_id: str | None = None,
        category: ReasonCategory = ReasonCategory.OTHER,
    ) -> LifecycleResult:
        """Suspend, resume, revoke or cancel a licence, with a reason (and its public category).

        Raises:
            PermissionDeniedError: the caller is neither issuer nor operator.
            NotFoundError: no such licence, or another department's (the same answer).
            IllegalTransitionError: the action is not allowed from the licence's state (409).
            ValidationFailedError: empty reason or not a status action.
        """
        require_role(principal, Role.ISSUER, Role.OPERATOR)
        if action not in STATUS_ACTIONS:
            raise ValidationFailedError(
                f"{action.value} is not a status change",
                details=[{"field": "action", "problem": "unknown"}],
            )
        reason = checked_reason(reason)
        now = self.ctx.clock.now()
        with licence_access(self.ctx, principal, action=action.value, request_id=request_id):
            result, deliveries = self._change_status(
                identifier, action, reason, principal, request_id, now, category
            )
        WebhookService(self.ctx).dispatch(deliveries, background=self.background_webhooks)
        return result

    def _change_status(
        self,
        identifier: str,
        action: LicenceAction,
        reason: str,
        principal: Principal,
        request_id: str | None,
        now: datetime,
        category: ReasonCategory,
    ) -> tuple[LifecycleResult, list[int]]:
        with self.ctx.database.transaction() as session:
            cert = visible_licence(session, identifier, principal)
            current = self._effective(cert)
            target = transition(current, action)
            cert.status = target.value
            version = CertificateRepository(session).version(cert.id, cert.current_version)
            assert version is not None  # a certificate always has its current version
            self._record(
                session,
                cert,
                action,
                current,
                target,
                reason,
                principal,
                now,
                request_id,
                category=category,
            )
            record_change(
                session,
                self.ctx.settings,
                certificate_id=cert.id,
                event=action.value,
                version=cert.current_version,
                status_after=target.value,
                now=now,
            )
            deliveries = self._enqueue(
                session, cert, action, current, target, reason, cert.identifier, now
            )
            result = LifecycleResult(
                identifier=cert.identifier,
                previous_identifier=cert.identifier,
                action=action.value,
                status=self._effective(cert).value,
                version=cert.current_version,
                sha256=version.sha256,
                changed_at=now,
            )
        return result, deliveries

    # --- reading ---------------------------------------------------------------------------
    def history(
        self, identifier: str, *, principal: Principal, request_id: str | None = None
    ) -> list[StatusChangeInfo]:
        """Every state change and new version of a licence, oldest first (a privileged read, audited).

        Raises:
            NotFoundError: no such licence, or another department's.
        """
        with (
            licence_access(self.ctx, principal, action="history", request_id=request_id),
            self.ctx.database.read() as session,
        ):
            cert = visible_licence(session, identifier, principal)
            target = cert.identifier
            changes = [
                StatusChangeInfo(
                    r.at,
                    r.action,
                    r.from_status,
                    r.to_status,
                    r.reason,
                    r.version,
                    r.identifier,
                    r.actor,
                    r.category,
                )
                for r in StatusHistoryRepository(session).for_certificate(cert.id)
            ]
        with self.ctx.database.transaction() as session:
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=principal,
                action="certificate.history",
                target=target,
                request_id=request_id,
            )
        return changes
