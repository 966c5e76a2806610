"""The licence templates an integrator can issue: schema, sample request and preview (public)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, public
from certsvc.api.derived import derive, many, to_api
from certsvc.api.ratelimit import public_rate_limit
from certsvc.services.template_gallery import (
    TemplateDescription,
    TemplateGalleryService,
    TemplateSummary,
)

__all__ = ["router"]

router = APIRouter(
    prefix="/api/v1/templates", tags=["templates"], dependencies=[Depends(public), Depends(public_rate_limit)]
)


class TemplateLinks(BaseModel):
    self: str
    preview_png: str
    gallery_page: str


_DESCRIBE = {
    "slug": "the `template` of an issue request",
    "type_code": "证照类型代码 (GB/T 36904), the first part of every identifier of this type",
}
TemplateSummaryRead = derive(TemplateSummary, "TemplateSummaryRead", describe=_DESCRIBE, add={"links": (TemplateLinks, ...)})
TemplateRead = derive(
    TemplateDescription,
    "TemplateRead",
    describe={
        **_DESCRIBE,
        "fields_schema": "JSON Schema (2020-12) of the issue request's `fields`",
        "sample_request": "a complete body for POST /api/v1/certificates",
    },
    add={"links": (TemplateLinks, ...)},
)


def _links(slug: str, base: str) -> TemplateLinks:
    return TemplateLinks(
        self=f"{base}/api/v1/templates/{slug}",
        preview_png=f"{base}/api/v1/templates/{slug}/preview.png",
        gallery_page=f"{base}/templates/{slug}",
    )


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.get("", response_model=many(TemplateSummaryRead))
def list_templates(request: Request, ctx: ContextDep) -> list[dict[str, Any]]:
    """Every licence type this service issues (which ones a department may issue: its licence types)."""
    base = _base(request)
    return [{**to_api(t), "links": _links(t.slug, base)} for t in TemplateGalleryService(ctx).summaries()]


@router.get("/{slug}", response_model=TemplateRead)
def get_template(slug: str, request: Request, ctx: ContextDep) -> dict[str, Any]:
    """Name, type code, the JSON Schema of the fields and a sample request that issues as written."""
    described = TemplateGalleryService(ctx).describe(slug)
    return {**to_api(described), "links": _links(slug, _base(request))}


@router.get(
    "/{slug}/preview.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "page 1 of the sample, as printed (never signed)"}},
)
async def get_template_preview(slug: str, ctx: ContextDep) -> Response:
    """The sample request rendered as a licence page (the seal drawn, the identifier a placeholder's)."""
    png = await run_in_threadpool(TemplateGalleryService(ctx).preview_png, slug)
    return Response(png, media_type="image/png", headers={"Cache-Control": "public, max-age=3600"})
