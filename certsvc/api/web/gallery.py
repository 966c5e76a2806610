"""The template gallery for people: every licence type with its preview, fields and sample.

``/templates`` and ``/templates/{slug}``: what a department's developer or a clerk looks at
before integrating (the machine-readable twin is ``/api/v1/templates``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from certsvc.api.deps import ContextDep, public
from certsvc.api.ratelimit import public_rate_limit
from certsvc.services.template_gallery import TemplateGalleryService

__all__ = ["gallery_router"]

gallery_router = APIRouter(
    tags=["public pages"],
    include_in_schema=False,
    dependencies=[Depends(public), Depends(public_rate_limit)],
)
_templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def _field_rows(schema: dict[str, Any]) -> list[dict[str, Any]]:
    required = set(schema.get("required", []))
    rows = []
    for name, spec in schema.get("properties", {}).items():
        rows.append(
            {
                "name": name,
                "title": spec.get("title", ""),
                "type": spec.get("format") or spec.get("type", ""),
                "is_required": name in required,
                "max_length": spec.get("maxLength"),
                "choices": spec.get("enum"),
            }
        )
    return rows


@gallery_router.get("/templates", response_class=HTMLResponse)
def gallery(request: Request, ctx: ContextDep) -> HTMLResponse:
    return _templates.TemplateResponse(
        request, "gallery.html", {"templates": TemplateGalleryService(ctx).summaries()}
    )


@gallery_router.get("/templates/{slug}", response_class=HTMLResponse)
def gallery_detail(slug: str, request: Request, ctx: ContextDep) -> HTMLResponse:
    described = TemplateGalleryService(ctx).describe(slug)
    return _templates.TemplateResponse(
        request,
        "gallery_detail.html",
        {
            "template": described,
            "fields": _field_rows(described.fields_schema),
            "sample_json": json.dumps(described.sample_request, ensure_ascii=False, indent=2),
        },
    )
