"""The public verification page that a licence's QR code opens."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep
from certsvc.api.routes.verification import uploaded_pdf
from certsvc.errors import CertsvcError, NotFoundError
from certsvc.services.registry import PublicStatus, public_status
from certsvc.services.verification import VerificationService

__all__ = ["STATUS_LABELS", "router"]

router = APIRouter(tags=["public pages"], include_in_schema=False)
_templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

STATUS_LABELS = {
    "valid": ("有效", "Valid"),
    "suspended": ("已暂扣", "Suspended"),
    "revoked": ("已撤销", "Revoked"),
    "cancelled": ("已注销", "Cancelled"),
    "expired": ("已过期", "Expired"),
    "superseded": ("已变更", "Superseded"),
}


@router.get("/v/{identifier}", response_class=HTMLResponse)
def licence_page(identifier: str, request: Request, ctx: ContextDep) -> HTMLResponse:
    """Status only: a bare identifier reveals no holder data, so walking identifiers learns nothing."""
    status: PublicStatus | None
    try:
        status = public_status(ctx, identifier)
    except NotFoundError:
        status = None
    return _templates.TemplateResponse(
        request, "status.html", {"status": status, "labels": STATUS_LABELS}, status_code=200 if status else 404
    )


@router.post("/v/check", response_class=HTMLResponse)
async def check_upload(request: Request, ctx: ContextDep) -> HTMLResponse:
    """The page's upload form: verify the PDF the visitor holds and show the verdict."""
    try:
        data = await uploaded_pdf(request, ctx.settings.max_upload_bytes)
        report = await run_in_threadpool(VerificationService(ctx).verify_pdf, data)
    except CertsvcError as exc:
        return _templates.TemplateResponse(
            request, "report.html", {"report": None, "error": exc.message}, status_code=422
        )
    return _templates.TemplateResponse(request, "report.html", {"report": report, "error": None})
