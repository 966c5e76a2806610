"""The electronic PDF's page drawing, recorded as a :class:`LicenceScene` instead of PDF operators.

The OFD must look like the electronic PDF and may never drift from it, so it is not laid out a
second time: the PDF renderer's own plan and painter run against :class:`_RecordingCanvas`, a
stand-in for the few reportlab ``Canvas`` calls the painter makes, which turns each call into a
mark in millimetres from the top-left corner (OFD's coordinate system). Pictures (the holder's
photo) are recorded from the plan itself, because the painter writes them as PDF XObjects.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from reportlab.lib.colors import Color
from reportlab.pdfbase import pdfmetrics

from certsvc.domain.ofd_xml import ofd_number
from certsvc.rendering import fonts
from certsvc.rendering.content import LicenceContent
from certsvc.rendering.drawing import cached_image, fit_image, qr_matrix
from certsvc.rendering.layout import PlacedItem, on_page, plan_layout
from certsvc.rendering.mongolian import ShapedRun
from certsvc.rendering.mongolian_pdf import register_mongolian_pdf_font
from certsvc.rendering.ofd.scene import ImageMark, LicenceScene, PageScene, PathMark, Rgb, TextMark
from certsvc.rendering.ofd.shaped_text import shaped_run_marks
from certsvc.rendering.painter import PdfPainter
from certsvc.rendering.renderer import layout_for
from certsvc.rendering.templates import MM, LicenceTemplate

__all__ = ["record_scene"]

Mark = TextMark | PathMark | ImageMark
_LITERAL_POINT = re.compile(r"(-?[\d.]+) (-?[\d.]+) ([ml])")


def _rgb(color: Color) -> Rgb:
    return (round(color.red * 255), round(color.green * 255), round(color.blue * 255))


@dataclass
class _State:
    fill: Rgb = (0, 0, 0)
    stroke: Rgb = (0, 0, 0)
    line_width: float = 1.0  # points
    font: str = ""
    size: float = 12.0  # points


@dataclass
class _TextObject:
    """reportlab's ``PDFTextObject`` as far as the painter uses it."""

    x: float
    y: float
    char_space: float = 0.0
    render_mode: int = 0
    font: str = ""
    size: float = 12.0
    runs: list[tuple[str, float, str]] = field(default_factory=list)  # font, size, text

    def setCharSpace(self, value: float) -> None:
        self.char_space = value

    def setTextRenderMode(self, mode: int) -> None:
        self.render_mode = mode

    def setFont(self, name: str, size: float) -> None:
        self.font, self.size = name, size

    def textOut(self, text: str) -> None:
        self.runs.append((self.font, self.size, text))


@dataclass
class _Path:
    rects: list[tuple[float, float, float, float]] = field(default_factory=list)

    def rect(self, x: float, y: float, w: float, h: float) -> None:
        self.rects.append((x, y, w, h))


class _RecordingCanvas:
    """Records the reportlab calls of ``painter.PdfPainter`` as marks (see the module docstring)."""

    def __init__(self, page_height_pt: float) -> None:
        self.h = page_height_pt
        self.state = _State()
        self.saved: list[_State] = []
        self.marks: list[Mark] = []

    # coordinates: PDF points, origin bottom-left → OFD millimetres, origin top-left
    def _x(self, x: float) -> float:
        return x / MM

    def _y(self, y: float) -> float:
        return (self.h - y) / MM

    # graphics state
    def setFillColor(self, color: Color) -> None:
        self.state.fill = _rgb(color)

    def setStrokeColor(self, color: Color) -> None:
        self.state.stroke = _rgb(color)

    def setLineWidth(self, width: float) -> None:
        self.state.line_width = width

    def setFont(self, name: str, size: float) -> None:
        self.state.font, self.state.size = name, size

    def saveState(self) -> None:
        self.saved.append(_State(**self.state.__dict__))

    def restoreState(self) -> None:
        self.state = self.saved.pop()

    # text
    def _text(
        self,
        x: float,
        y: float,
        font: str,
        size: float,
        text: str,
        char_space: float,
        *,
        bold: bool,
    ) -> float:
        advances = [float(pdfmetrics.stringWidth(ch, font, size)) + char_space for ch in text]
        if text:
            self.marks.append(
                TextMark(
                    x=self._x(x),
                    y=self._y(y),
                    text=text,
                    font=font,
                    size=size / MM,
                    advances=tuple(a / MM for a in advances[:-1]),
                    fill=self.state.fill,
                    is_bold=bold,
                    stroke_width=self.state.line_width / MM if bold else 0.0,
                )
            )
        return x + sum(advances)

    def drawString(self, x: float, y: float, text: str, charSpace: float = 0.0) -> None:
        self._text(x, y, self.state.font, self.state.size, text, charSpace, bold=False)

    def beginText(self, x: float, y: float) -> _TextObject:
        return _TextObject(x, y, font=self.state.font, size=self.state.size)

    def drawText(self, text_object: _TextObject) -> None:
        x = text_object.x
        for font, size, text in text_object.runs:
            x = self._text(
                x,
                text_object.y,
                font,
                size,
                text,
                text_object.char_space,
                bold=text_object.render_mode == 2,
            )

    def drawShapedRun(self, run: ShapedRun, x: float, baseline: float, size: float, align: str, color: Color) -> None:
        """A shaped Mongolian line (rendering/bilingual_layout.py): glyph outlines + text layer."""
        width = run.width(size)
        left = x - (width / 2 if align == "center" else width if align == "right" else 0.0)
        self.marks.extend(
            shaped_run_marks(
                run,
                left_mm=self._x(left),
                baseline_mm=self._y(baseline),
                size_pt=size,
                fill=_rgb(color),
                font=register_mongolian_pdf_font(),
            )
        )

    # lines and areas
    def line(self, x1: float, y1: float, x2: float, y2: float) -> None:
        data = f"M {ofd_number(self._x(x1))} {ofd_number(self._y(y1))} L {ofd_number(self._x(x2))} {ofd_number(self._y(y2))}"
        self.marks.append(PathMark(data, self.state.line_width / MM, self.state.stroke, None))

    def _rect_data(self, x: float, y: float, w: float, h: float) -> str:
        left, top, right, bottom = self._x(x), self._y(y + h), self._x(x + w), self._y(y)
        return (
            f"M {ofd_number(left)} {ofd_number(top)} L {ofd_number(right)} {ofd_number(top)} L {ofd_number(right)} {ofd_number(bottom)} "
            f"L {ofd_number(left)} {ofd_number(bottom)} C"
        )

    def rect(self, x: float, y: float, w: float, h: float, stroke: int = 1, fill: int = 0) -> None:
        self.marks.append(
            PathMark(
                self._rect_data(x, y, w, h),
                self.state.line_width / MM,
                self.state.stroke if stroke else None,
                self.state.fill if fill else None,
            )
        )

    def beginPath(self) -> _Path:
        return _Path()

    def drawPath(self, path: _Path, stroke: int = 1, fill: int = 0) -> None:
        data = " ".join(self._rect_data(*r) for r in path.rects)
        self.marks.append(
            PathMark(
                data,
                self.state.line_width / MM,
                self.state.stroke if stroke else None,
                self.state.fill if fill else None,
            )
        )

    def addLiteral(self, operators: str) -> None:
        """The guilloche's pre-built ``x y m / x y l ... S`` strands (the only literal drawn)."""
        for strand in operators.split("S"):
            points = _LITERAL_POINT.findall(strand)
            if not points:
                continue
            data = " ".join(
                f"{'M' if op == 'm' else 'L'} {ofd_number(self._x(float(x)))} {ofd_number(self._y(float(y)))}"
                for x, y, op in points
            )
            self.marks.append(PathMark(data, self.state.line_width / MM, self.state.stroke, None))


def _image_marks(painter: Any, canvas: _RecordingCanvas, placed: PlacedItem) -> None:
    """What ``PdfPainter.draw_image`` draws: the picture fitted in its box, then the box's border."""
    item = placed.item
    x, y, w, h = item.num("x"), item.num("y"), item.num("width"), item.num("height")
    if placed.image:
        cached = cached_image(placed.image)  # also refuses a picture the PDF could not draw
        dx, dy, iw, ih = fit_image(w * MM, h * MM, cached.width, cached.height)
        canvas.marks.append(
            ImageMark(x + dx / MM, y + h - (dy + ih) / MM, iw / MM, ih / MM, placed.image)
        )
    item_without_picture = PlacedItem(item)
    if item.num("border", 0.5) > 0:
        painter.draw_image(canvas, item_without_picture)


def record_scene(template: LicenceTemplate, content: LicenceContent) -> LicenceScene:
    """The electronic licence's pages as marks, from the same plan and painter as the PDF.

    Raises:
        ValidationFailedError, RenderingError: as :func:`render_licence` (the same plan).
    """
    fonts.register_fonts()
    template = layout_for(template, content)  # the bilingual layout for a bilingual department
    plan = plan_layout(template, content)
    matrix = qr_matrix(content.verify_url)
    painter = PdfPainter(template, content, plan)
    pages: list[PageScene] = []
    for page in range(plan.pages):
        painter.page = page
        canvas = _RecordingCanvas(template.page.height)
        # The PDF starts each page in the default black fill and stroke, 1 pt lines.
        for placed in plan.placed:
            if not on_page(placed.item, page, plan.pages):
                continue
            if placed.item.kind == "image":
                _image_marks(painter, canvas, placed)
            else:  # item by item, both layers: the OFD draws in the template's order
                painter.draw_item(canvas, placed, static=True)
                painter.draw_item(canvas, placed, static=False)
        if plan.flow_item is not None and page < len(plan.flow_pages):
            painter.draw_flow(canvas, plan.flow_item, plan.flow_pages[page])
        if on_page(template.qr, page, plan.pages):
            painter.draw_qr(canvas, matrix)
        if on_page(template.identifier, page, plan.pages):
            painter.draw_identifier(canvas)
        pages.append(PageScene(tuple(canvas.marks)))
    box = plan.seal_box
    height_pt = template.page.height
    return LicenceScene(
        width=template.page.width_mm,
        height=template.page.height_mm,
        pages=tuple(pages),
        seal_page=plan.seal_page,
        seal_box=(box.x1 / MM, (height_pt - box.y2) / MM, box.width / MM, box.height / MM),
    )
