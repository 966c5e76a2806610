"""Webhook endpoints of a department, for operators: add, list, disable, delete, rotate the
secret, and the delivery log. What is sent and how to check it: docs/webhooks.md."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from certsvc.api.deps import ContextDep, OperatorPrincipal
from certsvc.api.ids import RowId
from certsvc.api.pagination import PAGINATED, PageDep, send_page
from certsvc.services.admin import AdminService
from certsvc.services.webhook_admin import DeliveryInfo, WebhookAdminService
from certsvc.services.webhooks import WebhookInfo

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/admin", tags=["webhooks"])


class WebhookCreate(BaseModel):
    url: str = Field(
        min_length=1, max_length=500, examples=["https://xzsp.xlgl.example.gov.cn/certsvc-events"]
    )


class WebhookCreated(BaseModel):
    id: int
    url: str
    secret: str = Field(description="HMAC-SHA256 key for X-Certsvc-Signature; shown once")


class WebhookRead(BaseModel):
    id: int
    url: str
    is_active: bool
    created_at: datetime

    @classmethod
    def of(cls, info: WebhookInfo) -> WebhookRead:
        return cls.model_validate(info, from_attributes=True)


class WebhookUpdate(BaseModel):
    is_active: bool = Field(
        description="false: record and send nothing more until set to true again"
    )


class AttemptRead(BaseModel):
    attempt: int
    at: datetime
    http_status: int | None = Field(
        description="the receiver's answer; null when it could not be reached"
    )
    error: str | None
    duration_ms: int
    is_success: bool


class DeliveryRead(BaseModel):
    id: int
    event_id: str = Field(description="X-Certsvc-Event-Id: the same on every retry of one event")
    event_type: str
    status: str = Field(description="pending | delivered | failed (every attempt used)")
    attempts: int
    created_at: datetime
    finished_at: datetime | None
    attempt_log: list[AttemptRead]

    @classmethod
    def of(cls, info: DeliveryInfo) -> DeliveryRead:
        return cls.model_validate(info, from_attributes=True)


@router.post("/departments/{code}/webhooks", status_code=201, response_model=WebhookCreated)
def create_webhook(
    code: str, body: WebhookCreate, ctx: ContextDep, principal: OperatorPrincipal
) -> WebhookCreated:
    """Register a URL to receive the department's licence events (signed; see docs/webhooks.md)."""
    hook = AdminService(ctx).add_webhook(code, url=body.url, principal=principal)
    return WebhookCreated(id=hook.id, url=hook.url, secret=hook.secret)


@router.get("/departments/{code}/webhooks", response_model=list[WebhookRead], responses=PAGINATED)
def list_webhooks(
    code: str,
    request: Request,
    response: Response,
    ctx: ContextDep,
    principal: OperatorPrincipal,
    page: PageDep,
) -> list[WebhookRead]:
    found = WebhookAdminService(ctx).list(code, principal=principal, page=page)
    return send_page(found.map(WebhookRead.of), request, response)


@router.patch("/webhooks/{webhook_id}", response_model=WebhookRead)
def update_webhook(
    webhook_id: RowId, body: WebhookUpdate, ctx: ContextDep, principal: OperatorPrincipal
) -> WebhookRead:
    """Disable (or enable again) an endpoint; events pending for it are sent once it is enabled."""
    return WebhookRead.of(
        WebhookAdminService(ctx).set_active(
            webhook_id, is_active=body.is_active, principal=principal
        )
    )


@router.delete("/webhooks/{webhook_id}", status_code=204, response_class=Response)
def delete_webhook(webhook_id: RowId, ctx: ContextDep, principal: OperatorPrincipal) -> Response:
    """Remove an endpoint and its delivery log."""
    WebhookAdminService(ctx).delete(webhook_id, principal=principal)
    return Response(status_code=204)


@router.post("/webhooks/{webhook_id}/rotate-secret", response_model=WebhookCreated)
def rotate_webhook_secret(
    webhook_id: RowId, ctx: ContextDep, principal: OperatorPrincipal
) -> WebhookCreated:
    """A new signing secret, shown once; every later delivery (retries too) is signed with it."""
    rotated = WebhookAdminService(ctx).rotate_secret(webhook_id, principal=principal)
    return WebhookCreated(id=rotated.id, url=rotated.url, secret=rotated.secret)


@router.post(
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=DeliveryRead,
)
def redeliver(
    webhook_id: RowId, delivery_id: RowId, ctx: ContextDep, principal: OperatorPrincipal
) -> DeliveryRead:
    """Send a failed event again (a new round of attempts, in the background; 409 unless it failed)."""
    return DeliveryRead.of(
        WebhookAdminService(ctx).redeliver(webhook_id, delivery_id, principal=principal)
    )


@router.get(
    "/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryRead], responses=PAGINATED
)
def list_deliveries(
    webhook_id: RowId,
    request: Request,
    response: Response,
    ctx: ContextDep,
    principal: OperatorPrincipal,
    page: PageDep,
) -> list[DeliveryRead]:
    """The delivery log, newest event first: each event's status and every attempt (HTTP status, error, time)."""
    found = WebhookAdminService(ctx).deliveries(webhook_id, principal=principal, page=page)
    return send_page(found.map(DeliveryRead.of), request, response)
