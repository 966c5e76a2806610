"""PUBLIC pages of a hub (mounted only with ``CERTSVC_ROLE=hub``): any member's licence by its
identifier (status only, as ``/v/{identifier}``: no holder data), and a form that verifies a
file against the roots of the member that delivered it. Both name the 盟 issuer and the member."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, public
from certsvc.api.ratelimit import public_rate_limit
from certsvc.api.uploads import uploaded_pdf
from certsvc.api.web.pages import STATUS_LABELS
from certsvc.errors import CertsvcError, NotFoundError
from certsvc.services.hub_queries import HubLicenceInfo, HubQueries

__all__ = ["hub_public_router"]

hub_public_router = APIRouter(
    tags=["public pages"],
    include_in_schema=False,
    dependencies=[Depends(public), Depends(public_rate_limit)],
)
_templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@hub_public_router.get("/hub/v/{identifier}", response_class=HTMLResponse)
def hub_licence_page(identifier: str, request: Request, ctx: ContextDep) -> HTMLResponse:
    """A member's licence as the hub keeps it: status, issuer, which deployment delivered it."""
    licence: HubLicenceInfo | None
    try:
        licence = HubQueries(ctx).public_status(identifier.upper())
    except NotFoundError:
        licence = None
    return _templates.TemplateResponse(
        request,
        "hub_status.html",
        {"licence": licence, "labels": STATUS_LABELS, "asked": identifier},
        status_code=200 if licence else 404,
        headers=_HEADERS,
    )


@hub_public_router.post("/hub/v/check", response_class=HTMLResponse)
async def hub_check_upload(request: Request, ctx: ContextDep) -> HTMLResponse:
    """The hub page's file form: the verdict, the 盟 issuer and the member that delivered the file."""
    try:
        data = await uploaded_pdf(request, ctx.settings.max_upload_bytes)
        result = await run_in_threadpool(HubQueries(ctx).verify, data)
    except CertsvcError as exc:
        return _templates.TemplateResponse(
            request,
            "report.html",
            {"report": None, "error": exc.message, "labels": STATUS_LABELS},
            status_code=422,
        )
    return _templates.TemplateResponse(
        request,
        "report.html",
        {
            "report": result.report,
            "error": None,
            "labels": STATUS_LABELS,
            "claims": None,
            "member": result.member,
        },
        headers=_HEADERS,
    )
