"""The holder's space (一人一档/一企一档) and consent, behind an identity provider's token."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from certsvc.api.deps import ContextDep, RequestId, holder_token_only
from certsvc.api.pagination import PAGINATED, PageDep, send_page
from certsvc.services.authorizations import AuthorizationService, AuthorizationView, qr_image
from certsvc.services.holders import Holder, HolderService

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/holder", tags=["holder"])


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def current_holder(request: Request, ctx: ContextDep, rid: RequestId) -> Holder:
    """The holder named by a valid identity token, or 401 with the reason's code."""
    return HolderService(ctx).authenticate(_bearer(request), request_id=rid)


def fresh_holder(request: Request, ctx: ContextDep, rid: RequestId) -> Holder:
    """As ``current_holder``, and the token must not have changed a consent before (replay)."""
    return HolderService(ctx).authenticate(_bearer(request), consume=True, request_id=rid)


# Holders are no API-key role: the declared rule is "no key role at all" (an API key gets 403),
# and the holder's identity token is checked by the dependency itself.
holder_token_only(current_holder)
holder_token_only(fresh_holder)

CurrentHolder = Annotated[Holder, Depends(current_holder)]
FreshHolder = Annotated[Holder, Depends(fresh_holder)]


class HolderCertificateRead(BaseModel):
    identifier: str
    template: str
    licence_name: str
    type_code: str
    department_code: str
    department_name: str
    holder_name: str
    status: str
    valid_from: date
    valid_until: date
    issued_at: datetime


class UsageRead(BaseModel):
    id: int
    at: datetime
    operation: str
    result: str
    department_code: str | None
    client_name: str | None
    certificate_identifier: str | None
    type_code: str | None
    application_no: str | None
    reason: str | None
    audit_event_id: int | None


class AuthorizationCreate(BaseModel):
    department_code: str = Field(
        min_length=18, max_length=18, description="receiving department's 统一社会信用代码"
    )
    licence_type: str | None = Field(
        default=None, max_length=64, description="template slug or 证照类型代码"
    )
    certificate_identifier: str | None = Field(
        default=None, max_length=130, description="one specific licence"
    )
    application_no: str = Field(min_length=1, max_length=64, description="办件编号")
    purpose: str = Field(min_length=1, max_length=200)
    expires_at: datetime
    is_single_use: bool = True


class AuthorizationRead(BaseModel):
    code: str
    code_display: str
    department_code: str
    department_name: str
    template: str
    type_code: str
    certificate_identifier: str | None
    application_no: str
    purpose: str
    is_single_use: bool
    created_at: datetime
    expires_at: datetime
    withdrawn_at: datetime | None
    used_at: datetime | None
    use_count: int
    state: str
    qr_payload: str
    qr_png_base64: str | None = None

    @classmethod
    def of(cls, view: AuthorizationView, *, with_qr: bool = False) -> AuthorizationRead:
        data = {k: getattr(view, k) for k in view.__slots__}
        if with_qr:
            data["qr_png_base64"] = base64.b64encode(qr_image(view.qr_payload)).decode()
        return cls(**data)


@router.get("/certificates", response_model=list[HolderCertificateRead])
def my_certificates(
    ctx: ContextDep, holder: CurrentHolder, rid: RequestId
) -> list[HolderCertificateRead]:
    """Every licence the holder has, across departments, with its state."""
    return [
        HolderCertificateRead(**{k: getattr(c, k) for k in c.__slots__})
        for c in HolderService(ctx).certificates(holder, request_id=rid)
    ]


@router.get("/usage", response_model=list[UsageRead], responses=PAGINATED)
def my_usage(
    request: Request, response: Response, ctx: ContextDep, holder: CurrentHolder, page: PageDep
) -> list[UsageRead]:
    """Every query, check and download naming the holder, answered or refused, oldest first."""
    found = HolderService(ctx).usage(holder, page=page)
    return send_page(
        found.map(lambda u: UsageRead(**{k: getattr(u, k) for k in UsageRead.model_fields})),
        request,
        response,
    )


@router.post("/authorizations", status_code=201, response_model=AuthorizationRead)
def grant(
    body: AuthorizationCreate, ctx: ContextDep, holder: FreshHolder, rid: RequestId
) -> AuthorizationRead:
    """Authorize one receiving department to use one licence type or one licence."""
    view = AuthorizationService(ctx).create(
        holder,
        department_code=body.department_code,
        licence_type=body.licence_type,
        certificate_identifier=body.certificate_identifier,
        application_no=body.application_no,
        purpose=body.purpose,
        expires_at=body.expires_at,
        is_single_use=body.is_single_use,
        request_id=rid,
    )
    return AuthorizationRead.of(view, with_qr=True)


@router.get("/authorizations", response_model=list[AuthorizationRead])
def my_authorizations(ctx: ContextDep, holder: CurrentHolder) -> list[AuthorizationRead]:
    return [AuthorizationRead.of(v) for v in AuthorizationService(ctx).list(holder)]


@router.get(
    "/authorizations/{code}/qr",
    response_class=Response,
    responses={
        200: {
            "content": {"image/png": {}},
            "description": "QR code carrying the authorization code",
        }
    },
)
def authorization_qr(code: str, ctx: ContextDep, holder: CurrentHolder) -> Response:
    return Response(AuthorizationService(ctx).qr(holder, code), media_type="image/png")


@router.post("/authorizations/{code}/withdraw", response_model=AuthorizationRead)
def withdraw(code: str, ctx: ContextDep, holder: FreshHolder, rid: RequestId) -> AuthorizationRead:
    """Withdraw an authorization; the record stays, later uses are refused."""
    return AuthorizationRead.of(AuthorizationService(ctx).withdraw(holder, code, request_id=rid))
