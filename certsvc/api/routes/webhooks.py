"""Webhook endpoints of a department, for operators: add, list, disable, delete, rotate the
secret, and the delivery log. What is sent and how to check it: docs/webhooks.md."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from certsvc.api.deps import ContextDep, OperatorPrincipal
from certsvc.api.derived import derive, many
from certsvc.api.ids import RowId
from certsvc.api.pagination import PAGINATED, PageDep, send_page
from certsvc.services.webhook_admin import (
    AttemptInfo,
    DeliveryInfo,
    RotatedSecret,
    WebhookAdminService,
)
from certsvc.services.webhooks import NewWebhook, WebhookInfo

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/admin", tags=["webhooks"])


class WebhookCreate(BaseModel):
    url: str = Field(min_length=1, max_length=500, examples=["https://xzsp.xlgl.example.gov.cn/certsvc-events"])


# A new webhook and a rotated secret answer alike: the secret is shown this once.
WebhookCreated = derive(
    RotatedSecret, "WebhookCreated", describe={"secret": "HMAC-SHA256 key for X-Certsvc-Signature; shown once"}
)
WebhookRead = derive(WebhookInfo, "WebhookRead")


class WebhookUpdate(BaseModel):
    is_active: bool = Field(description="false: record and send nothing more until set to true again")


AttemptRead = derive(
    AttemptInfo, "AttemptRead", describe={"http_status": "the receiver's answer; null when it could not be reached"}
)
DeliveryRead = derive(
    DeliveryInfo,
    "DeliveryRead",
    describe={
        "event_id": "X-Certsvc-Event-Id: the same on every retry of one event",
        "status": "pending | delivered | failed (every attempt used)",
    },
)


@router.post("/departments/{code}/webhooks", status_code=201, response_model=WebhookCreated)
def create_webhook(code: str, body: WebhookCreate, ctx: ContextDep, principal: OperatorPrincipal) -> NewWebhook:
    """Register a URL to receive the department's licence events (signed; see docs/webhooks.md)."""
    return WebhookAdminService(ctx).add_webhook(code, url=body.url, principal=principal)


@router.get("/departments/{code}/webhooks", response_model=many(WebhookRead), responses=PAGINATED)
def list_webhooks(
    code: str, request: Request, response: Response, ctx: ContextDep, principal: OperatorPrincipal, page: PageDep
) -> list[WebhookInfo]:
    found = WebhookAdminService(ctx).list(code, principal=principal, page=page)
    return send_page(found, request, response)


@router.patch("/webhooks/{webhook_id}", response_model=WebhookRead)
def update_webhook(webhook_id: RowId, body: WebhookUpdate, ctx: ContextDep, principal: OperatorPrincipal) -> WebhookInfo:
    """Disable (or enable again) an endpoint; events pending for it are sent once it is enabled."""
    return WebhookAdminService(ctx).set_active(webhook_id, is_active=body.is_active, principal=principal)


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(webhook_id: RowId, ctx: ContextDep, principal: OperatorPrincipal) -> Response:
    """Remove an endpoint and its delivery log."""
    WebhookAdminService(ctx).delete(webhook_id, principal=principal)
    return Response(status_code=204)


@router.post("/webhooks/{webhook_id}/rotate-secret", response_model=WebhookCreated)
def rotate_webhook_secret(webhook_id: RowId, ctx: ContextDep, principal: OperatorPrincipal) -> RotatedSecret:
    """A new signing secret, shown once; every later delivery (retries too) is signed with it."""
    return WebhookAdminService(ctx).rotate_secret(webhook_id, principal=principal)


@router.post("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", status_code=202, response_model=DeliveryRead)
def redeliver(webhook_id: RowId, delivery_id: RowId, ctx: ContextDep, principal: OperatorPrincipal) -> DeliveryInfo:
    """Send a failed event again (a new round of attempts, in the background; 409 unless it failed)."""
    return WebhookAdminService(ctx).redeliver(webhook_id, delivery_id, principal=principal)


@router.get("/webhooks/{webhook_id}/deliveries", response_model=many(DeliveryRead), responses=PAGINATED)
def list_deliveries(
    webhook_id: RowId, request: Request, response: Response, ctx: ContextDep, principal: OperatorPrincipal, page: PageDep
) -> list[DeliveryInfo]:
    """The delivery log, newest event first: each event's status and every attempt (HTTP status, error, time)."""
    found = WebhookAdminService(ctx).deliveries(webhook_id, principal=principal, page=page)
    return send_page(found, request, response)
