"""What an integrator (or a person at the gallery page) learns about each licence template:
its name and type code, the JSON Schema of its fields, a sample request and a preview image."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from certsvc.errors import NotFoundError, UnknownTemplateError
from certsvc.rendering.raster import first_page_png
from certsvc.rendering.templates import LicenceTemplate
from certsvc.services.context import ServiceContext
from certsvc.services.templates import PreviewVariant, TemplatePreviewService

__all__ = ["TemplateDescription", "TemplateGalleryService", "TemplateSummary"]

_PREVIEW_DPI = 60  # an A4 page about 500 px wide: legible in a gallery, small to send


@dataclass(frozen=True, slots=True)
class TemplateSummary:
    slug: str
    name: str
    type_code: str


@dataclass(frozen=True, slots=True)
class TemplateDescription:
    slug: str
    name: str
    type_code: str
    fields_schema: dict[str, Any]  # JSON Schema 2020-12 of the issue request's ``fields``
    sample_request: dict[str, Any]  # a complete ``POST /api/v1/certificates`` body


class TemplateGalleryService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def summaries(self) -> list[TemplateSummary]:
        """Every loaded template, by slug."""
        return [
            TemplateSummary(t.slug, t.name, t.type_code)
            for t in sorted(self.ctx.templates.all(), key=lambda t: t.slug)
        ]

    def describe(self, slug: str) -> TemplateDescription:
        """Raises: NotFoundError: no template ``slug``."""
        template = self._template(slug)
        return TemplateDescription(
            slug=template.slug,
            name=template.name,
            type_code=template.type_code,
            fields_schema=template.fields_json_schema(),
            sample_request=template.load_sample(),
        )

    def preview_png(self, slug: str) -> bytes:
        """The sample request rendered as the printed licence (seal drawn, never signed), page 1 as PNG.

        Drawn once per process: a template's files do not change while it runs.

        Raises:
            NotFoundError: no template ``slug``.
            RenderingError: the page could not be drawn.
        """
        template = self._template(slug)

        def draw() -> bytes:
            previews = TemplatePreviewService(
                self.ctx.templates, public_url=self.ctx.settings.public_url
            )
            return first_page_png(
                previews.render(template.slug, variant=PreviewVariant.PRINT).pdf, dpi=_PREVIEW_DPI
            )

        return self.ctx.loaded(f"template-preview-png:{template.slug}", draw)

    def _template(self, slug: str) -> LicenceTemplate:
        try:
            return self.ctx.templates.get(slug)
        except UnknownTemplateError:
            raise NotFoundError(f"no licence template {slug!r}") from None
