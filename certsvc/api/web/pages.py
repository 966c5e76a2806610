"""PUBLIC pages (no API key): the page a licence's QR code opens, and its upload forms.

``/v/{identifier}`` alone shows the status, validity and the holder's masked name (never the
holder's id, so walking identifiers learns no id number); ``/v/{identifier}/{payload}`` (what
the QR code encodes) adds the masked id and the signing key, but only when the payload's
signature verifies. ``/V/...`` is the same: QR codes use upper case so the
whole code stays in QR alphanumeric mode. Everything here is rate-limited per client address.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from certsvc.api.deps import ContextDep, public
from certsvc.api.ratelimit import public_rate_limit
from certsvc.api.uploads import read_limited_body, uploaded_pdf
from certsvc.errors import BadRequestError, CertsvcError, NotFoundError
from certsvc.services.qr import QrService, QrVerification
from certsvc.services.registry import PublicStatus, public_status
from certsvc.services.verification import VerificationService

__all__ = ["STATUS_LABELS", "public_router"]

public_router = APIRouter(
    tags=["public pages"],
    include_in_schema=False,
    dependencies=[Depends(public), Depends(public_rate_limit)],
)
_templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

STATUS_LABELS = {
    "valid": ("有效", "Valid"),
    "suspended": ("已暂扣", "Suspended"),
    "revoked": ("已撤销", "Revoked"),
    "cancelled": ("已注销", "Cancelled"),
    "expired": ("已过期", "Expired"),
    "superseded": ("已变更", "Superseded"),
}
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


def _status_page(
    request: Request, status: PublicStatus | None, qr: QrVerification | None
) -> HTMLResponse:
    # Details only from an authentic payload for this very identifier.
    claims = qr.claims if qr is not None and qr.is_authentic else None
    if claims is not None and status is not None and claims.identifier != status.identifier:
        claims = None
    return _templates.TemplateResponse(
        request,
        "status.html",
        {"status": status, "labels": STATUS_LABELS, "qr": qr, "claims": claims},
        status_code=200 if status else 404,
        headers=_HEADERS,
    )


def _lookup(ctx: ContextDep, identifier: str) -> PublicStatus | None:
    try:
        return public_status(ctx, identifier.upper())
    except NotFoundError:
        return None


@public_router.get("/v/{identifier}", response_class=HTMLResponse)
@public_router.get("/V/{identifier}", response_class=HTMLResponse)
def licence_page(identifier: str, request: Request, ctx: ContextDep) -> HTMLResponse:
    """Status, validity and masked holder name: a bare identifier reveals no id number."""
    return _status_page(request, _lookup(ctx, identifier), None)


@public_router.get("/v/{identifier}/{payload}", response_class=HTMLResponse)
@public_router.get("/V/{identifier}/{payload}", response_class=HTMLResponse)
def licence_page_with_payload(
    identifier: str, payload: str, request: Request, ctx: ContextDep
) -> HTMLResponse:
    """What the QR code opens: status, and the masked details when the signed payload verifies."""
    status = _lookup(ctx, identifier)
    qr = QrService(ctx).verify_text(f"V/{identifier}/{payload}") if status is not None else None
    return _status_page(request, status, qr)


@public_router.post("/v/check", response_class=HTMLResponse)
async def check_upload(request: Request, ctx: ContextDep) -> HTMLResponse:
    """The page's file form: verify the PDF or OFD the visitor holds and show the verdict."""
    try:
        data = await uploaded_pdf(request, ctx.settings.max_upload_bytes)
        report = await run_in_threadpool(VerificationService(ctx).verify_file, data)
    except CertsvcError as exc:
        return _error_page(request, exc)
    return _templates.TemplateResponse(
        request,
        "report.html",
        {"report": report, "error": None, "labels": STATUS_LABELS, "claims": None},
        headers=_HEADERS,
    )


@public_router.post("/v/scan", response_class=HTMLResponse)
async def scan_upload(request: Request, ctx: ContextDep) -> HTMLResponse:
    """The page's photo form: read the QR code in the image and verify it."""
    try:
        await read_limited_body(request, ctx.settings.max_upload_bytes + 64 * 1024)
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequestError("choose a photo of the QR code", code="missing_file")
        image = await upload.read()
        result = await run_in_threadpool(QrService(ctx).verify_image, image)
    except CertsvcError as exc:
        return _error_page(request, exc)
    claims = result.claims if result.is_authentic else None
    return _templates.TemplateResponse(
        request,
        "report.html",
        {"report": result.report, "error": None, "labels": STATUS_LABELS, "claims": claims},
        headers=_HEADERS,
    )


def _error_page(request: Request, exc: CertsvcError) -> HTMLResponse:
    return _templates.TemplateResponse(
        request,
        "report.html",
        {"report": None, "error": exc.message, "labels": STATUS_LABELS},
        status_code=422,
    )
