"""The electronic and the print PDF of one licence, from one drawing pass.

Each page is its template's static layer (prepared once per process, ``static_layer.py``)
followed by the licence's own layer, drawn once into the electronic copy. The print copy is
the same page content — the operators are taken over as they are, with the font state they were
drawn with — plus its 打印件 note and the seal image. Both copies therefore use the same font
subsets (the note's characters are reserved in both), which are cut and compressed once.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

from reportlab.pdfgen.canvas import Canvas

from certsvc.rendering import fonts
from certsvc.rendering.content import LicenceContent
from certsvc.rendering.drawing import CachedImage, use_cached_image
from certsvc.rendering.layout import LayoutPlan
from certsvc.rendering.metadata import apply_metadata, document_id
from certsvc.rendering.painter import PRINT_MARK_TEXT, PdfPainter
from certsvc.rendering.static_layer import FontStates, static_layer
from certsvc.rendering.template_model import LicenceTemplate

__all__ = ["PdfPair", "paint_pdfs"]

_CST = timezone(timedelta(hours=8), "CST")  # the document dates are China Standard Time dates


@dataclass(frozen=True)
class PdfPair:
    electronic: bytes
    printed: bytes


def _canvas(template: LicenceTemplate) -> tuple[Canvas, io.BytesIO]:
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer,
        pagesize=(template.page.width, template.page.height),
        invariant=1,  # no random IDs, no wall-clock dates: same input → same bytes
        pageCompression=1,
        # reportlab's default initial font is Helvetica, which it would reference
        # (not embedded) on every page; start in the embedded CJK font instead.
        initialFontName=fonts.font_name(template.default_font),
        initialFontSize=12,
    )
    return canvas, buffer


def _describe(canvas: Canvas, template: LicenceTemplate, content: LicenceContent, *, is_print: bool) -> None:
    """The info dictionary and XMP metadata of one copy."""
    t, issued = template, content.issued_on
    # The document's dates are the issue date, not the render time (re-renders must match).
    canvas.setDateFormatter(lambda *_: f"D:{issued:%Y%m%d}000000+08'00'")
    canvas.setTitle(f"{t.name}（{content.holder_name}）")
    canvas.setSubject(f"电子证照 {t.name} {content.identifier}" + ("（打印件）" if is_print else ""))
    canvas.setAuthor(content.department_name)
    canvas.setCreator("certsvc")
    canvas.setKeywords(f"{content.identifier} {t.type_code}")
    apply_metadata(
        canvas,
        template_name=t.name,
        type_code=t.type_code,
        content_metadata=content.metadata,
        # PDF/A-2b (ISO 19005-2): XMP CreateDate must equal the info /CreationDate above.
        created=datetime.combine(issued, time(0, 0), tzinfo=_CST),
        file_id=document_id(content.identifier, "print" if is_print else "electronic"),
    )


def paint_pdfs(
    template: LicenceTemplate,
    content: LicenceContent,
    plan: LayoutPlan,
    *,
    seal_image: CachedImage,
    qr_matrix: tuple[bytearray, ...],
) -> PdfPair:
    """Both copies of one licence; the electronic one leaves the seal box empty."""
    painter = PdfPainter(template, content, plan)
    mark = template.print_mark
    reserve = []
    if mark is not None:
        reserve.append((mark.text("font", template.default_font), mark.text("text", PRINT_MARK_TEXT)))
    layer = static_layer(
        template,
        plan.pages,
        new_canvas=lambda: _canvas(template)[0],
        draw=painter.draw_static,
        reserve=reserve,
    )

    canvas, buffer = _canvas(template)
    _describe(canvas, template, content, is_print=False)
    layer.start(canvas)
    pages: list[tuple[tuple[str, ...], tuple[CachedImage, ...]]] = []
    for page in range(plan.pages):
        start = len(canvas._code)
        layer.replay(canvas, page)
        painter.draw_licence(canvas, page, qr_matrix)
        pages.append((tuple(canvas._code[start:]), tuple(painter.images)))
        canvas.showPage()
    drawn = FontStates.capture(canvas)  # before saving, which freezes the fonts
    canvas.save()
    electronic = buffer.getvalue()

    canvas, buffer = _canvas(template)
    _describe(canvas, template, content, is_print=True)
    drawn.install(canvas)
    for page, (code, images) in enumerate(pages):
        canvas._code.extend(code)
        for image in images:
            use_cached_image(canvas, image)
        painter.draw_print_extras(canvas, page, seal_image)
        canvas.showPage()
    canvas.save()
    return PdfPair(electronic, buffer.getvalue())
