"""The holder's space (一人一档/一企一档) and consent, behind an identity provider's token."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from certsvc.api.deps import ContextDep, RequestId, holder_token_only
from certsvc.api.derived import derive, many, to_api
from certsvc.api.pagination import PAGINATED, PageDep, send_page
from certsvc.services.authorizations import AuthorizationService, AuthorizationView, qr_image
from certsvc.services.holders import Holder, HolderCertificate, HolderService, UsageView

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


HolderCertificateRead = derive(HolderCertificate, "HolderCertificateRead")
# The holder knows who they are: their own identity is not repeated in every row.
UsageRead = derive(UsageView, "UsageRead", exclude={"holder_id", "holder_id_type"})


class AuthorizationCreate(BaseModel):
    department_code: str = Field(min_length=18, max_length=18, description="receiving department's 统一社会信用代码")
    licence_type: str | None = Field(default=None, max_length=64, description="template slug or 证照类型代码")
    certificate_identifier: str | None = Field(default=None, max_length=130, description="one specific licence")
    application_no: str = Field(min_length=1, max_length=64, description="办件编号")
    purpose: str = Field(min_length=1, max_length=200)
    expires_at: datetime
    is_single_use: bool = True


AuthorizationRead = derive(
    AuthorizationView,
    "AuthorizationRead",
    add={"qr_png_base64": (str | None, Field(default=None, description="the QR code as a PNG, on the answer to a grant only"))},
)


def _with_qr(view: AuthorizationView) -> dict[str, Any]:
    return {**to_api(view), "qr_png_base64": base64.b64encode(qr_image(view.qr_payload)).decode()}


@router.get("/certificates", response_model=many(HolderCertificateRead))
def my_certificates(ctx: ContextDep, holder: CurrentHolder, rid: RequestId) -> list[HolderCertificate]:
    """Every licence the holder has, across departments, with its state."""
    return HolderService(ctx).certificates(holder, request_id=rid)


@router.get("/usage", response_model=many(UsageRead), responses=PAGINATED)
def my_usage(request: Request, response: Response, ctx: ContextDep, holder: CurrentHolder, page: PageDep) -> list[UsageView]:
    """Every query, check and download naming the holder, answered or refused, oldest first."""
    return send_page(HolderService(ctx).usage(holder, page=page), request, response)


@router.post("/authorizations", status_code=201, response_model=AuthorizationRead)
def grant(body: AuthorizationCreate, ctx: ContextDep, holder: FreshHolder, rid: RequestId) -> dict[str, Any]:
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
    return _with_qr(view)


@router.get("/authorizations", response_model=many(AuthorizationRead))
def my_authorizations(ctx: ContextDep, holder: CurrentHolder) -> list[AuthorizationView]:
    return AuthorizationService(ctx).list(holder)


@router.get(
    "/authorizations/{code}/qr",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "QR code carrying the authorization code"}},
)
def authorization_qr(code: str, ctx: ContextDep, holder: CurrentHolder) -> Response:
    return Response(AuthorizationService(ctx).qr(holder, code), media_type="image/png")


@router.post("/authorizations/{code}/withdraw", response_model=AuthorizationRead)
def withdraw(code: str, ctx: ContextDep, holder: FreshHolder, rid: RequestId) -> AuthorizationView:
    """Withdraw an authorization; the record stays, later uses are refused."""
    return AuthorizationService(ctx).withdraw(holder, code, request_id=rid)
