"""Outgoing webhooks: a department hears about its licences' state changes.

Events are written to an outbox (``webhook_deliveries``) in the same transaction as the state
change, so a committed change always has its events; delivery happens after the commit, with
retries and exponential back-off, and every attempt is recorded. Each request is signed:

    X-Certsvc-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>

Receivers recompute the HMAC, reject old timestamps, and de-duplicate on ``X-Certsvc-Event-Id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session

from certsvc.config import Environment
from certsvc.errors import ValidationFailedError
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.outbox import post, retry_delay, sender_id
from certsvc.services.principals import Principal
from certsvc.services.webhook_secrets import endpoint_secret, new_webhook_secret, seal_secret
from certsvc.storage.orm_lifecycle import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from certsvc.storage.repositories_lifecycle import WebhookRepository

__all__ = [
    "NewWebhook",
    "WebhookInfo",
    "WebhookService",
    "enqueue_event",
    "signature_header",
]

_USER_AGENT = "certsvc-webhooks/1"


@dataclass(frozen=True, slots=True)
class NewWebhook:
    id: int
    department_code: str
    url: str
    secret: str  # shown once


@dataclass(frozen=True, slots=True)
class WebhookInfo:
    id: int
    url: str
    is_active: bool
    created_at: datetime


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Certsvc-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def enqueue_event(
    session: Session, *, department_id: int, event_type: str, data: dict[str, Any], now: datetime
) -> list[int]:
    """Inside the caller's transaction: one outbox row per active endpoint of the department."""
    ids = []
    repo = WebhookRepository(session)
    for endpoint in repo.active_endpoints(department_id):
        event_id = str(uuid.uuid4())
        payload = {"id": event_id, "type": event_type, "occurred_at": now.isoformat(), "data": data}
        ids.append(
            repo.add_delivery(
                WebhookDelivery(
                    endpoint_id=endpoint.id,
                    event_id=event_id,
                    event_type=event_type,
                    payload=payload,
                    status="pending",
                    attempts=0,
                    created_at=now,
                )
            ).id
        )
    return ids


class WebhookService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def add_endpoint(
        self,
        session: Session,
        *,
        department_id: int,
        department_code: str,
        url: str,
        actor: Principal | None,
    ) -> NewWebhook:
        """Register an endpoint inside the caller's transaction; the HMAC secret is returned once.

        Raises:
            ValidationFailedError: not an http(s) URL (https only in production).
        """
        parts = urlsplit(url)
        allowed = (
            ("https",) if self.ctx.settings.env is Environment.PRODUCTION else ("https", "http")
        )
        if parts.scheme not in allowed or not parts.hostname or len(url) > 500:
            raise ValidationFailedError(
                "invalid webhook URL",
                details=[{"field": "url", "problem": f"an absolute {' or '.join(allowed)} URL"}],
            )
        secret = new_webhook_secret()
        now = self.ctx.clock.now()
        endpoint = WebhookRepository(session).add_endpoint(
            WebhookEndpoint(
                department_id=department_id,
                url=url,
                encrypted_secret=seal_secret(self.ctx, secret),
                is_active=True,
                created_at=now,
            )
        )
        append_audit_event(
            session,
            at=now,
            actor=actor,
            action="webhook.add",
            target=f"department:{department_code}",
            details={"webhook_id": endpoint.id, "url": url},
        )
        return NewWebhook(endpoint.id, department_code, url, secret)

    def dispatch(self, delivery_ids: Sequence[int], *, background: bool) -> threading.Thread | None:
        """Deliver after the commit: in a daemon thread (API) or right here (CLI, which then exits)."""
        if not delivery_ids:
            return None
        if not background:
            for delivery_id in delivery_ids:
                self.deliver(delivery_id)
            return None
        thread = threading.Thread(
            target=lambda: [self.deliver(d) for d in delivery_ids],
            name="certsvc-webhooks",
            daemon=True,
        )
        thread.start()
        return thread

    def deliver_pending(self) -> int:
        """Deliver every pending event (after a restart); returns how many were attempted."""
        with self.ctx.database.read() as session:
            pending = list(WebhookRepository(session).pending_ids())
        for delivery_id in pending:
            self.deliver(delivery_id)
        return len(pending)

    def deliver(self, delivery_id: int) -> str:
        """Try to deliver one event until it succeeds or the attempts run out; returns the final status.

        Each attempt is made under a lease on the delivery row (``WebhookRepository.lease``):
        when several processes (API processes, machines) try to send the same pending event,
        one posts it and the others return "pending" at once.
        """
        settings = self.ctx.settings
        owner = sender_id()
        with self.ctx.database.read() as session:
            delivery = WebhookRepository(session).delivery(delivery_id)
            if delivery is None or delivery.status != "pending":
                return delivery.status if delivery else "missing"
            endpoint = WebhookRepository(session).endpoint(delivery.endpoint_id)
            assert endpoint is not None  # foreign key
            if not endpoint.is_active:
                return "pending"  # disabled by an operator: sent when it is enabled again
            url, secret, event_id = (
                endpoint.url,
                endpoint_secret(self.ctx, endpoint),
                delivery.event_id,
            )
            body = json.dumps(delivery.payload, ensure_ascii=False, sort_keys=True).encode()
            done = delivery.attempts
        while done < settings.webhook_max_attempts:
            if done > 0:
                time.sleep(retry_delay(settings.webhook_backoff_seconds, done))
            if not self._lease(delivery_id, owner, done):
                return "pending"  # another process is sending it
            done += 1
            status, error, elapsed_ms = self._post(url, secret, event_id, done, body)
            is_success = status is not None and 200 <= status < 300
            final = (
                "delivered"
                if is_success
                else ("failed" if done >= settings.webhook_max_attempts else "pending")
            )
            with self.ctx.database.transaction() as session:
                repo = WebhookRepository(session)
                repo.add_attempt(
                    WebhookAttempt(
                        delivery_id=delivery_id,
                        attempt=done,
                        at=self.ctx.clock.now(),
                        http_status=status,
                        error=error,
                        duration_ms=elapsed_ms,
                        is_success=is_success,
                    )
                )
                row = repo.delivery(delivery_id)
                assert row is not None
                row.attempts = done
                row.status = final
                if final != "pending":
                    row.finished_at = self.ctx.clock.now()
                    row.lease_owner, row.lease_until = None, None
            if final != "pending":
                return final
        return "failed"

    def _lease(self, delivery_id: int, owner: str, attempts: int) -> bool:
        settings = self.ctx.settings
        # Long enough for the attempt and the back-off that follows it: the lease is renewed
        # before the next attempt, so a live sender never loses it; a dead one frees it then.
        hold = (
            settings.webhook_timeout_seconds + settings.webhook_backoff_seconds * 2**attempts + 30
        )
        now = self.ctx.clock.now()
        with self.ctx.database.transaction() as session:
            return WebhookRepository(session).lease(
                delivery_id,
                owner=owner,
                attempts=attempts,
                now=now,
                until=now + timedelta(seconds=hold),
            )

    def _post(
        self, url: str, secret: str, event_id: str, attempt: int, body: bytes
    ) -> tuple[int | None, str | None, int]:
        timestamp = int(self.ctx.clock.now().timestamp())
        result = post(
            url,
            body,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": _USER_AGENT,
                "X-Certsvc-Event-Id": event_id,
                "X-Certsvc-Delivery-Attempt": str(attempt),
                "X-Certsvc-Signature": signature_header(secret, timestamp, body),
            },
            timeout=self.ctx.settings.webhook_timeout_seconds,
        )
        return result.status, result.error, result.elapsed_ms
