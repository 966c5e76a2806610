"""Operators manage a department's webhook endpoints: list, disable, delete, rotate the secret,
and read the delivery log (every event, every attempt). Delivery itself is ``webhooks.py``'s."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from certsvc.domain.paging import Page, PageRequest
from certsvc.errors import ConflictError, NotFoundError
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.provisioning import department_by_code
from certsvc.services.webhook_secrets import new_webhook_secret, seal_secret
from certsvc.services.webhooks import NewWebhook, WebhookInfo, WebhookService
from certsvc.storage.orm_lifecycle import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from certsvc.storage.repositories_webhooks import WebhookAdminRepository

__all__ = ["AttemptInfo", "DeliveryInfo", "RotatedSecret", "WebhookAdminService"]


@dataclass(frozen=True, slots=True)
class AttemptInfo:
    attempt: int
    at: datetime
    http_status: int | None
    error: str | None
    duration_ms: int
    is_success: bool


@dataclass(frozen=True, slots=True)
class DeliveryInfo:
    """One event sent (or being sent) to one endpoint, with every attempt so far."""

    id: int
    event_id: str
    event_type: str
    status: str  # pending | delivered | failed
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    attempt_log: tuple[AttemptInfo, ...]

    @property
    def http_statuses(self) -> tuple[int | None, ...]:
        return tuple(a.http_status for a in self.attempt_log)


@dataclass(frozen=True, slots=True)
class RotatedSecret:
    id: int
    url: str
    secret: str  # shown once


def _info(endpoint: WebhookEndpoint) -> WebhookInfo:
    return WebhookInfo(endpoint.id, endpoint.url, endpoint.is_active, endpoint.created_at)


class WebhookAdminService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def add_webhook(self, department_code: str, *, url: str, principal: Principal) -> NewWebhook:
        """Register a webhook endpoint for a department; the HMAC secret is shown once.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown department.
            ValidationFailedError: not an acceptable URL.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.transaction() as session:
            department = department_by_code(session, department_code)
            return WebhookService(self.ctx).add_endpoint(
                session, department_id=department.id, department_code=department.code, url=url, actor=principal
            )

    def list(self, department_code: str, *, principal: Principal, page: PageRequest) -> Page[WebhookInfo]:
        """A department's endpoints, oldest first.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown department.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            department = department_by_code(session, department_code)
            return WebhookAdminRepository(session).endpoints(department.id, page).map(_info)

    def set_active(self, webhook_id: int, *, is_active: bool, principal: Principal) -> WebhookInfo:
        """Stop (or resume) sending to an endpoint. While it is disabled no new events are
        recorded for it; events already pending wait and are sent once it is enabled again.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown webhook.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.transaction() as session:
            endpoint = self._endpoint(session, webhook_id)
            endpoint.is_active = is_active
            self._audit(session, principal, "webhook.enable" if is_active else "webhook.disable", endpoint)
            info = _info(endpoint)
        if is_active:
            self._resend_pending(webhook_id)
        return info

    def delete(self, webhook_id: int, *, principal: Principal) -> None:
        """Remove an endpoint with its delivery log (the audit log keeps that it existed).

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown webhook.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.transaction() as session:
            endpoint = self._endpoint(session, webhook_id)
            self._audit(session, principal, "webhook.delete", endpoint)
            WebhookAdminRepository(session).delete(endpoint)

    def rotate_secret(self, webhook_id: int, *, principal: Principal) -> RotatedSecret:
        """Give the endpoint a new HMAC secret, returned once; the old one signs nothing more.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown webhook.
            KeyUnavailableError: no key passphrase to encrypt the secret with.
        """
        require_role(principal, Role.OPERATOR)
        secret = new_webhook_secret()
        with self.ctx.database.transaction() as session:
            endpoint = self._endpoint(session, webhook_id)
            endpoint.encrypted_secret = seal_secret(self.ctx, secret)
            endpoint.legacy_secret = None
            self._audit(session, principal, "webhook.rotate_secret", endpoint)
            return RotatedSecret(endpoint.id, endpoint.url, secret)

    def deliveries(self, webhook_id: int, *, principal: Principal, page: PageRequest) -> Page[DeliveryInfo]:
        """The endpoint's delivery log, newest event first, each with all its attempts.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown webhook.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            self._endpoint(session, webhook_id)
            repo = WebhookAdminRepository(session)
            found = repo.deliveries(webhook_id, page)
            attempts = repo.attempts_of([d.id for d in found.items])
            return found.map(lambda d: _delivery(d, tuple(_attempt(a) for a in attempts.get(d.id, []))))

    def redeliver(self, webhook_id: int, delivery_id: int, *, principal: Principal) -> DeliveryInfo:
        """Send a failed event again, with a new round of attempts (the earlier ones stay in the log).

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown webhook, or no such delivery of it.
            ConflictError: ``delivery_not_failed`` — it is pending or was delivered.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.transaction() as session:
            endpoint = self._endpoint(session, webhook_id)
            repo = WebhookAdminRepository(session)
            delivery = repo.delivery(webhook_id, delivery_id)
            if delivery is None:
                raise NotFoundError(f"webhook {webhook_id} has no delivery {delivery_id}")
            if delivery.status != "failed":
                raise ConflictError(
                    f"delivery {delivery_id} is {delivery.status}; only a failed one is sent again",
                    code="delivery_not_failed",
                )
            # The receiver sees the same event id again and can de-duplicate on it.
            delivery.status, delivery.attempts, delivery.finished_at = "pending", 0, None
            delivery.lease_owner, delivery.lease_until = None, None
            self._audit(session, principal, "webhook.redeliver", endpoint)
            attempts = repo.attempts_of([delivery.id]).get(delivery.id, [])
            info = _delivery(delivery, tuple(_attempt(a) for a in attempts))
        if endpoint.is_active:
            WebhookService(self.ctx).dispatch([delivery_id], background=True)
        return info

    def _resend_pending(self, webhook_id: int) -> None:
        with self.ctx.database.read() as session:
            pending = WebhookAdminRepository(session).pending_of(webhook_id)
        WebhookService(self.ctx).dispatch(pending, background=True)

    @staticmethod
    def _endpoint(session: Session, webhook_id: int) -> WebhookEndpoint:
        endpoint = WebhookAdminRepository(session).endpoint(webhook_id)
        if endpoint is None:
            raise NotFoundError(f"no webhook {webhook_id}")
        return endpoint

    def _audit(self, session: Session, principal: Principal, action: str, endpoint: WebhookEndpoint) -> None:
        append_audit_event(
            session,
            at=self.ctx.clock.now(),
            actor=principal,
            action=action,
            target=f"webhook:{endpoint.id}",
            details={"url": endpoint.url},
        )


def _attempt(row: WebhookAttempt) -> AttemptInfo:
    return AttemptInfo(row.attempt, row.at, row.http_status, row.error, row.duration_ms, row.is_success)


def _delivery(row: WebhookDelivery, attempts: tuple[AttemptInfo, ...]) -> DeliveryInfo:
    return DeliveryInfo(
        row.id, row.event_id, row.event_type, row.status, row.attempts, row.created_at, row.finished_at, attempts
    )
