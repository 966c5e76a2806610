"""Template + licence content → the electronic PDF and the print PDF.

Two variants come out of one layout pass so they can never drift apart:

* the **electronic** copy leaves the seal box empty — crypto signs the file and puts the
  signature's visible appearance (the seal image) there; a seal drawn into the page content
  would be a picture anyone can copy, not a seal;
* the **print** copy carries the seal image in the same box and a small 打印件 note, because
  paper cannot carry a signature; its QR code lets a clerk check the paper against the registry.

Both are deterministic for the same input (reportlab ``invariant`` mode, creation date taken
from ``issued_on``, subset names numbered rather than random), so re-rendering reproduces the
archived bytes and tests can compare them.
"""

from __future__ import annotations

import base64
import copy
import functools
import hashlib
import io
import math
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import segno
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase.pdfdoc import PDFImageXObject
from reportlab.pdfgen.canvas import Canvas

from certsvc.domain.layout import SealBox
from certsvc.domain.pdf_numbers import pdf_number
from certsvc.errors import RenderingError, ValidationFailedError
from certsvc.rendering import fonts
from certsvc.rendering.bilingual_layout import (
    DEPARTMENT_NAME_MN,
    draw_mongolian_line,
    fit_mongolian,
)
from certsvc.rendering.metadata import apply_metadata, document_id
from certsvc.rendering.templates import (
    MM,
    FieldSpec,
    LayoutItem,
    LicenceTemplate,
    format_date_cn,
    item_max_lines,
    table_cell_lines,
    table_columns,
)
from certsvc.rendering.text import wrap_text

__all__ = ["PRINT_MARK_TEXT", "LicenceContent", "RenderedLicence", "layout_for", "render_licence"]

PRINT_MARK_TEXT = "打印件"
_BLACK = HexColor("#000000")
_WHITE = HexColor("#FFFFFF")
_HOLDER_ID_TYPES = ("uscc", "resident_id")
_CST = timezone(timedelta(hours=8), "CST")  # the document dates are China Standard Time dates


@dataclass(frozen=True)
class LicenceContent:
    """Everything printed on one licence, already validated and normalised by the caller."""

    identifier: str  # GB/T 36904 licence identifier
    holder_name: str
    holder_id_type: str  # "uscc" | "resident_id"
    holder_id: str
    fields: Mapping[str, object]  # already validated by LicenceTemplate.validate_fields
    valid_from: date
    valid_until: date
    issued_on: date
    department_name: str
    department_code: str  # issuing authority USCC
    verify_url: str  # what the QR code encodes
    # The issuing department's name in traditional Mongolian script, given for a bilingual
    # department: the template's bilingual layout (if it has one) is used then.
    department_name_mn: str | None = None
    # GB/T 36903 metadata written to XMP and the info dictionary (extra keys win over derived).
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RenderedLicence:
    electronic_pdf: bytes  # unsigned; the seal box left EMPTY for the signature appearance
    print_pdf: bytes  # same look and QR, marked 打印件, seal image drawn in the seal box
    seal_box: SealBox


# --- planning: every measurement and every refusal happens before anything is drawn ----------
@dataclass(frozen=True)
class _Placed:
    item: LayoutItem
    lines: tuple[str, ...] = ()
    rows: tuple[tuple[tuple[str, ...], ...], ...] = ()  # table: row → cell → lines
    image: bytes | None = None
    size: float | None = None  # field items: the size chosen (shrink_to may reduce it)


@dataclass(frozen=True)
class _FlowLine:
    text: str
    y_mm: float
    indent: bool
    justify: bool = False  # every line of a paragraph but its last is set flush on both sides


@dataclass(frozen=True)
class _Plan:
    pages: int
    placed: tuple[_Placed, ...]
    flow_item: LayoutItem | None
    flow_pages: tuple[tuple[_FlowLine, ...], ...]
    seal_box: SealBox
    seal_page: int


_SOURCE_PATH = {
    "$holder_name": "holder.name",
    "$holder_id": "holder.id",
    "$department_name": "department_name",
    "$department_code": "department_code",
    "$issued_on": "issued_on",
    "$valid_from": "valid_from",
    "$valid_until": "valid_until",
    "$validity": "valid_until",
    "$identifier": "identifier",
    DEPARTMENT_NAME_MN: "department_name_mn",
}


def _builtin_values(content: LicenceContent) -> dict[str, object]:
    return {
        "$holder_name": content.holder_name,
        "$holder_id": content.holder_id,
        "$department_name": content.department_name,
        "$department_code": content.department_code,
        "$issued_on": content.issued_on,
        "$valid_from": content.valid_from,
        "$valid_until": content.valid_until,
        "$validity": f"{format_date_cn(content.valid_from)}至{format_date_cn(content.valid_until)}",
        "$identifier": content.identifier,
        DEPARTMENT_NAME_MN: content.department_name_mn,
    }


def _page_index(page: str, pages: int) -> int:
    if page == "last":
        return pages - 1
    if page.isdigit():
        return min(int(page), pages - 1)
    return 0


def _on_page(item: LayoutItem, index: int, pages: int) -> bool:
    return item.page == "every" or _page_index(item.page, pages) == index


def _size(
    template: LicenceTemplate, item: LayoutItem, name: str = "size", default: float = 12.0
) -> float:
    return item.num(name, float(template.defaults.get("size", default)))


def _plan(template: LicenceTemplate, content: LicenceContent) -> _Plan:
    problems: list[dict[str, str]] = []
    if content.holder_id_type not in _HOLDER_ID_TYPES:
        problems.append({"field": "holder.id_type", "problem": "must be uscc or resident_id"})
    if not content.identifier:
        problems.append({"field": "identifier", "problem": "licence identifier is empty"})
    if content.valid_until < content.valid_from:
        problems.append({"field": "valid_until", "problem": "validity ends before it starts"})
    values: dict[str, object] = {**_builtin_values(content), **content.fields}
    specs: Mapping[str, FieldSpec] = template.field_map
    placed: list[_Placed] = []
    flow_item: LayoutItem | None = None
    flow_text = ""
    for item in template.items:
        source = item.source
        if item.kind == "mongolian":
            value = values.get(source) if source else item.text("text")
            mongolian = _place_mongolian(template, item, value, _SOURCE_PATH.get(source or "", "layout"), problems)
            if mongolian is not None:
                placed.append(mongolian)
            continue
        if source is None:
            placed.append(_Placed(item))
            continue
        path = _SOURCE_PATH.get(source, source)
        value = values.get(source)
        if item.kind == "field":
            text = template.display_text(source, value, item)
            missing = fonts.missing_glyphs(
                text, {template.default_font, item.text("font", template.default_font)}
            )
            if missing:
                problems.append(
                    {
                        "field": path,
                        "problem": f"contains characters the licence font cannot print: {''.join(missing)}",
                    }
                )
                continue
            fitted = template.fit_field(item, text)
            if fitted is None:
                label = specs[source].label if source in specs else item.text("label", path)
                problems.append(
                    {
                        "field": path,
                        "problem": f"{label} is too long for its box ({item_max_lines(item)} line(s))",
                    }
                )
                continue
            placed.append(_Placed(item, lines=tuple(fitted[0]), size=fitted[1]))
        elif item.kind == "table":
            rows_out = []
            for index, row in enumerate(value if isinstance(value, list) else []):
                cells = []
                for column in table_columns(item):
                    cell = str(row.get(column["key"], "")) if isinstance(row, Mapping) else ""
                    lines = table_cell_lines(template, item, column, cell)
                    if lines is None:
                        problems.append(
                            {
                                "field": f"{path}[{index}].{column['key']}",
                                "problem": "too long for its cell",
                            }
                        )
                        lines = []
                    cells.append(tuple(lines))
                rows_out.append(tuple(cells))
            placed.append(_Placed(item, rows=tuple(rows_out)))
        elif item.kind == "image":
            data = None
            if isinstance(value, str) and value:
                try:
                    data = base64.b64decode(value, validate=True)
                except ValueError:
                    problems.append({"field": path, "problem": "image is not valid base64"})
            placed.append(_Placed(item, image=data))
        elif item.kind == "flow":
            flow_item = item
            flow_text = "" if value is None else str(value)
            missing = fonts.missing_glyphs(
                flow_text, {template.default_font, item.text("font", template.default_font)}
            )
            if missing:
                problems.append(
                    {
                        "field": path,
                        "problem": f"contains characters the licence font cannot print: {''.join(missing)}",
                    }
                )
    flow_pages: tuple[tuple[_FlowLine, ...], ...] = ()
    if flow_item is not None and not problems:
        flow_pages, flow_problem = _paginate(template, flow_item, flow_text)
        if flow_problem:
            problems.append(
                {
                    "field": _SOURCE_PATH.get(flow_item.source or "", flow_item.source or ""),
                    "problem": flow_problem,
                }
            )
    if problems:
        raise ValidationFailedError(
            f"the licence cannot be laid out on {template.name}", details=problems
        )
    pages = max(1, len(flow_pages))
    seal_page = _page_index(template.seal.page, pages)
    seal_box = _seal_box(template, seal_page)
    return _Plan(pages, tuple(placed), flow_item, flow_pages, seal_box, seal_page)


def _place_mongolian(
    template: LicenceTemplate, item: LayoutItem, value: object, path: str, problems: list[dict[str, str]]
) -> _Placed | None:
    """Fit a ``mongolian`` item (rendering/bilingual_layout.py); ``None`` and a problem if it cannot."""
    if not value:
        problems.append({"field": path, "problem": "the bilingual layout needs the department's Mongolian name"})
        return None
    size = _size(template, item)
    fitted = fit_mongolian(
        str(value),
        width_pt=item.num("width") * MM if "width" in item.props else None,
        size=size,
        max_lines=item_max_lines(item),
        smallest=item.num("shrink_to", size),
    )
    if fitted is None:
        problems.append({"field": path, "problem": f"too long for its box ({item_max_lines(item)} line(s))"})
        return None
    return _Placed(item, lines=tuple(fitted[0]), size=fitted[1])


def _paginate(
    template: LicenceTemplate, item: LayoutItem, text: str
) -> tuple[tuple[tuple[_FlowLine, ...], ...], str | None]:
    """Break the flowing body into pages (GB/T 9704 style: 2-character first-line indent).

    The last page must keep room above ``last_page_bottom`` for the issuer, date and seal; if the
    tail of the body would run into it, the tail moves to a new page together with at least two
    lines of body, so the seal never stands alone on a page (GB/T 9704-2012 §7.3.5).
    """
    size = _size(template, item)
    leading = item.num("leading", size * 1.8 / MM)
    indent_pt = item.num("indent", 2) * size
    font = item.text("font", template.default_font)
    width = item.num("width") * MM
    lines: list[tuple[str, bool, bool]] = []
    for paragraph in text.split("\n"):
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        wrapped = wrap_text(paragraph, width=width, font=font, size=size, first_indent=indent_pt)
        if wrapped is None:
            return (), "contains a character wider than the text column"
        lines.extend((line, i == 0, i < len(wrapped) - 1) for i, line in enumerate(wrapped))
    top, bottom = item.num("y"), item.num("bottom")
    cont = item.num("continue_y", top)
    last_bottom = item.num("last_page_bottom", bottom)
    pages: list[list[_FlowLine]] = [[]]
    y = top
    for line, first, justify in lines:
        if y > bottom:
            pages.append([])
            y = cont
        pages[-1].append(_FlowLine(line, y, first, justify))
        y += leading
    overflow = [ln for ln in pages[-1] if ln.y_mm > last_bottom]
    if overflow:
        move = pages[-1][-max(2, len(overflow)) :]
        del pages[-1][-len(move) :]
        pages.append(
            [
                _FlowLine(ln.text, cont + i * leading, ln.indent, ln.justify)
                for i, ln in enumerate(move)
            ]
        )
    max_pages = item.props.get("max_pages", 4)
    if isinstance(max_pages, int) and len(pages) > max_pages:
        return (), f"is too long: it needs {len(pages)} pages, at most {max_pages}"
    return tuple(tuple(p) for p in pages), None


def _seal_box(template: LicenceTemplate, page_index: int) -> SealBox:
    seal = template.seal
    radius = seal.num("diameter") / 2
    cx, cy = seal.num("cx"), seal.num("cy")
    height = template.page.height
    return SealBox(
        page_index=page_index,
        x1=round((cx - radius) * MM, 2),
        y1=round(height - (cy + radius) * MM, 2),
        x2=round((cx + radius) * MM, 2),
        y2=round(height - (cy - radius) * MM, 2),
    )


# --- drawing -------------------------------------------------------------------------------------
_color_cache: dict[str, Color] = {}


def _color(value: str | None, default: Color = _BLACK) -> Color:
    if not value:
        return default
    color = _color_cache.get(value)
    if color is None:
        color = _color_cache[value] = HexColor(value)
    return color


class _Painter:
    """Draws a plan onto one canvas; the variant decides the seal and the print mark."""

    def __init__(
        self, template: LicenceTemplate, content: LicenceContent, plan: _Plan, *, is_print: bool
    ) -> None:
        self.t = template
        self.content = content
        self.plan = plan
        self.is_print = is_print
        self.h = template.page.height
        self.default_color = str(template.defaults.get("color", "#000000"))
        self.page = 0

    def y(self, mm: float) -> float:
        return self.h - mm * MM

    def run(self, seal_image: _CachedImage | None, qr_matrix: tuple[bytearray, ...]) -> bytes:
        buffer = io.BytesIO()
        t, content = self.t, self.content
        canvas = Canvas(
            buffer,
            pagesize=(t.page.width, t.page.height),
            invariant=1,  # no random IDs, no wall-clock dates: same input → same bytes
            pageCompression=1,
            # reportlab's default initial font is Helvetica, which it would reference
            # (not embedded) on every page; start in the embedded CJK font instead.
            initialFontName=fonts.font_name(t.default_font),
            initialFontSize=12,
        )
        issued = content.issued_on
        # The document's dates are the issue date, not the render time (re-renders must match).
        canvas.setDateFormatter(lambda *_: f"D:{issued:%Y%m%d}000000+08'00'")
        canvas.setTitle(f"{t.name}（{content.holder_name}）")
        canvas.setSubject(
            f"电子证照 {t.name} {content.identifier}" + ("（打印件）" if self.is_print else "")
        )
        canvas.setAuthor(content.department_name)
        canvas.setCreator("certsvc")
        canvas.setKeywords(f"{content.identifier} {t.type_code}")
        apply_metadata(
            canvas,
            template_name=t.name,
            type_code=t.type_code,
            content_metadata=_metadata(t, content),
            # PDF/A-2b (ISO 19005-2): XMP CreateDate must equal the info /CreationDate above.
            created=datetime.combine(issued, time(0, 0), tzinfo=_CST),
            file_id=document_id(content.identifier, "print" if self.is_print else "electronic"),
        )
        for page in range(self.plan.pages):
            self.page = page
            for placed in self.plan.placed:
                if _on_page(placed.item, page, self.plan.pages):
                    self.draw_item(canvas, placed)
            if self.plan.flow_item is not None and page < len(self.plan.flow_pages):
                self.draw_flow(canvas, self.plan.flow_item, self.plan.flow_pages[page])
            if _on_page(t.qr, page, self.plan.pages):
                self.draw_qr(canvas, qr_matrix)
            if _on_page(t.identifier, page, self.plan.pages):
                self.draw_identifier(canvas)
            if self.is_print:
                if t.print_mark is not None and _on_page(t.print_mark, page, self.plan.pages):
                    self.draw_print_mark(canvas, t.print_mark)
                if seal_image is not None and page == self.plan.seal_page:
                    box = self.plan.seal_box
                    _draw_cached_image(canvas, seal_image, box.x1, box.y1, box.width, box.height)
            canvas.showPage()
        canvas.save()
        return buffer.getvalue()

    # text helpers
    def text_at(
        self,
        canvas: Canvas,
        text: str,
        x_mm: float,
        y_mm: float,
        *,
        font: str,
        size: float,
        align: str = "left",
        color: str | None = None,
        char_space: float = 0.0,
        bold: bool = False,
    ) -> None:
        name = fonts.font_name(font)
        fill = _color(color or self.default_color)
        canvas.setFillColor(fill)
        canvas.setFont(name, size)
        x = x_mm * MM
        if align != "left":
            width = fonts.string_width(text, font, size) + char_space * max(0, len(text) - 1)
            x -= width if align == "right" else width / 2
        segments = fonts.runs(text, font)
        if bold or len(segments) > 1:
            # One text object, switching to the fallback face for the characters the template
            # font lacks (rare characters in names), so spacing runs on unbroken.
            # No bold face of AR PL UMing exists; fill + stroke (text render mode 2) with a thin
            # outline gives the heavier title weight of printed certificates (≈ 小标宋).
            # Tc and Tr are graphics state in PDF and outlive the text object: fence them in q/Q.
            canvas.saveState()
            text_object = canvas.beginText(x, self.y(y_mm))
            text_object.setCharSpace(char_space)
            if bold:
                text_object.setTextRenderMode(2)
                canvas.setStrokeColor(fill)
                canvas.setLineWidth(size * 0.025)
            for run_font, run in segments:
                text_object.setFont(run_font, size)
                text_object.textOut(run)
            canvas.drawText(text_object)
            canvas.restoreState()
        elif char_space:
            canvas.drawString(x, self.y(y_mm), text, charSpace=char_space)
        else:
            canvas.drawString(x, self.y(y_mm), text)

    def draw_item(self, canvas: Canvas, placed: _Placed) -> None:
        item = placed.item
        kind = item.kind
        t = self.t
        if kind == "text":
            # "{page}" / "{pages}" give GB/T 9704 page numbers ("— 1 —") on multi-page documents.
            text = (
                item.text("text")
                .replace("{page}", str(self.page + 1))
                .replace("{pages}", str(self.plan.pages))
            )
            font, size = item.text("font", t.default_font), _size(t, item)
            lines = [text]
            if "width" in item.props:
                lines = wrap_text(text, width=item.num("width") * MM, font=font, size=size) or [
                    text
                ]
            leading = item.num("leading", size * 1.5 / MM)
            for i, line in enumerate(lines):
                self.text_at(
                    canvas,
                    line,
                    item.num("x"),
                    item.num("y") + i * leading,
                    font=font,
                    size=size,
                    align=item.text("align", "left"),
                    color=item.props.get("color"),
                    char_space=item.num("char_space"),
                    bold=bool(item.props.get("bold")),
                )
        elif kind == "mongolian":
            size = placed.size or _size(t, item)
            leading = item.num("leading", size * 1.4 / MM)
            align = item.text("align", "left")
            x = item.num("x")
            if "width" in item.props and align != "left":
                x += item.num("width") / (2 if align == "center" else 1)
            for i, line in enumerate(placed.lines):
                draw_mongolian_line(
                    canvas,
                    line,
                    x_pt=x * MM,
                    baseline_pt=self.y(item.num("y") + i * leading),
                    size=size,
                    align=align,
                    color=_color(item.props.get("color") or self.default_color),
                )
        elif kind == "field":
            self.draw_field(canvas, placed)
        elif kind == "table":
            self.draw_table(canvas, placed)
        elif kind == "image":
            self.draw_image(canvas, placed)
        elif kind == "line":
            canvas.setStrokeColor(_color(item.props.get("color")))
            canvas.setLineWidth(item.num("width", 0.5))
            canvas.line(
                item.num("x1") * MM,
                self.y(item.num("y1")),
                item.num("x2") * MM,
                self.y(item.num("y2")),
            )
        elif kind == "rect":
            canvas.setStrokeColor(_color(item.props.get("color")))
            canvas.setLineWidth(item.num("width", 0.5))
            fill = item.props.get("fill")
            if fill:
                canvas.setFillColor(_color(fill))
            canvas.rect(
                item.num("x") * MM,
                self.y(item.num("y") + item.num("h")),
                item.num("w") * MM,
                item.num("h") * MM,
                stroke=1 if item.num("width", 0.5) > 0 else 0,
                fill=1 if fill else 0,
            )
        elif kind == "frame":
            self.draw_frame(canvas, item)
        elif kind == "guilloche":
            self.draw_guilloche(canvas, item)

    def draw_field(self, canvas: Canvas, placed: _Placed) -> None:
        item, t = placed.item, self.t
        x, y = item.num("x"), item.num("y")
        font = item.text("font", t.default_font)
        size = placed.size or _size(t, item)
        color = item.props.get("color")
        source = item.source or ""
        label = item.props.get(
            "label", t.field_map[source].label if source in t.field_map else None
        )
        label_width = item.num("label_width", 0.0)
        if label:
            label_font = item.text("label_font", t.default_font)
            label_size = item.num("label_size", size)
            label_mn = item.props.get("label_mn")
            if isinstance(label_mn, str):
                # Mongolian before Chinese (内政办发〔1996〕32号 Art. 3), both in the label column.
                draw_mongolian_line(
                    canvas,
                    label_mn,
                    x_pt=x * MM,
                    baseline_pt=self.y(y),
                    size=label_size,
                    align="left",
                    color=_color(self.default_color),
                )
                x += item.num("label_mn_width")
                label_width -= item.num("label_mn_width")
            suffix = item.text("label_suffix", "：")
            if item.props.get("label_justify") and len(label) > 1:
                # 分散对齐: labels of different lengths share one width, as on the printed form.
                suffix_w = fonts.string_width(suffix, label_font, label_size)
                room = label_width * MM - suffix_w - 1.5 * MM
                natural = fonts.string_width(label, label_font, label_size)
                gap = max(0.0, (room - natural) / (len(label) - 1))
                self.text_at(canvas, label, x, y, font=label_font, size=label_size, char_space=gap)
                self.text_at(
                    canvas,
                    suffix,
                    x + (natural + gap * (len(label) - 1)) / MM,
                    y,
                    font=label_font,
                    size=label_size,
                )
            else:
                self.text_at(canvas, label + suffix, x, y, font=label_font, size=label_size)
        leading = item.num("leading", size * 1.5 / MM)
        align = item.text("align", "left")
        vx = x + label_width
        width = item.num("width")
        anchor = vx if align == "left" else vx + width if align == "right" else vx + width / 2
        for i, line in enumerate(placed.lines):
            self.text_at(
                canvas,
                line,
                anchor,
                y + i * leading,
                font=font,
                size=size,
                align=align,
                color=color,
                bold=bool(item.props.get("bold")),
            )
            if item.props.get("underline"):
                canvas.setStrokeColor(_color(color or self.default_color))
                canvas.setLineWidth(0.4)
                base = self.y(y + i * leading) - size * 0.22
                canvas.line(vx * MM, base, (vx + width) * MM, base)

    def draw_table(self, canvas: Canvas, placed: _Placed) -> None:
        item, t = placed.item, self.t
        spec = t.field_map[item.source or ""]
        labels = {c.key: c.label for c in spec.columns}
        columns = table_columns(item)
        x0, y0 = item.num("x"), item.num("y")
        row_h = item.num("row_height", 8.0)
        size = _size(t, item, default=10.5)
        header_size = item.num("header_size", size)
        font = item.text("font", t.default_font)
        header_font = item.text("header_font", font)
        # Empty ruled rows up to max_rows, as on the printed form (and nothing can be added in).
        total_rows = 1 + max(spec.max_rows or 0, len(placed.rows))
        width = sum(float(c["width"]) for c in columns)
        canvas.setStrokeColor(_color(item.props.get("color")))
        canvas.setLineWidth(item.num("line_width", 0.6))
        canvas.rect(x0 * MM, self.y(y0 + total_rows * row_h), width * MM, total_rows * row_h * MM)
        for r in range(1, total_rows):
            canvas.line(x0 * MM, self.y(y0 + r * row_h), (x0 + width) * MM, self.y(y0 + r * row_h))
        cx = x0
        for column in columns[:-1]:
            cx += float(column["width"])
            canvas.line(cx * MM, self.y(y0), cx * MM, self.y(y0 + total_rows * row_h))
        # header row, centred
        cx = x0
        for column in columns:
            w = float(column["width"])
            self.text_at(
                canvas,
                labels.get(column["key"], column["key"]),
                cx + w / 2,
                y0 + row_h / 2 + header_size * 0.35 / MM,
                font=header_font,
                size=header_size,
                align="center",
            )
            cx += w
        line_h = size * 1.2 / MM
        for r, cells in enumerate(placed.rows):
            top = y0 + (r + 1) * row_h
            cx = x0
            for column, lines in zip(columns, cells, strict=True):
                w = float(column["width"])
                align = str(column.get("align", "center"))
                block = len(lines) * line_h
                first = top + (row_h - block) / 2 + size * 0.85 / MM
                anchor = (
                    cx + 1.2
                    if align == "left"
                    else cx + w - 1.2
                    if align == "right"
                    else cx + w / 2
                )
                for i, line in enumerate(lines):
                    self.text_at(
                        canvas, line, anchor, first + i * line_h, font=font, size=size, align=align
                    )
                cx += w

    def draw_image(self, canvas: Canvas, placed: _Placed) -> None:
        item = placed.item
        x, y, w, h = item.num("x"), item.num("y"), item.num("width"), item.num("height")
        if placed.image:
            cached = _cached_image(placed.image)
            dx, dy, iw, ih = _fit(w * MM, h * MM, cached.width, cached.height)
            _draw_cached_image(canvas, cached, x * MM + dx, self.y(y + h) + dy, iw, ih)
        border = item.num("border", 0.5)
        if border > 0:
            canvas.setStrokeColor(_color(item.props.get("color")))
            canvas.setLineWidth(border)
            canvas.rect(x * MM, self.y(y + h), w * MM, h * MM)

    def draw_flow(self, canvas: Canvas, item: LayoutItem, lines: tuple[_FlowLine, ...]) -> None:
        t = self.t
        size = _size(t, item)
        font = item.text("font", t.default_font)
        indent_mm = item.num("indent", 2) * size / MM
        width = item.num("width") * MM
        for line in lines:
            x = item.num("x") + (indent_mm if line.indent else 0.0)
            space = 0.0
            if line.justify and len(line.text) > 1:
                # 两端对齐: spread the slack over the gaps so the right edge is straight, as in
                # typeset official documents; capped so a short line never looks letter-spaced.
                room = width - (indent_mm * MM if line.indent else 0.0)
                slack = room - fonts.string_width(line.text, font, size)
                space = min(max(0.0, slack / (len(line.text) - 1)), size * 0.5)
            self.text_at(
                canvas,
                line.text,
                x,
                line.y_mm,
                font=font,
                size=size,
                color=item.props.get("color"),
                char_space=space,
            )

    def draw_frame(self, canvas: Canvas, item: LayoutItem) -> None:
        inset = item.num("inset")
        w_mm, h_mm = self.t.page.width_mm, self.t.page.height_mm
        canvas.setStrokeColor(_color(item.props.get("color")))
        width = item.num("width", 1.5)
        canvas.setLineWidth(width)
        canvas.rect(inset * MM, inset * MM, (w_mm - 2 * inset) * MM, (h_mm - 2 * inset) * MM)
        gap = item.num("gap", 0.0)
        if gap > 0:
            # The classic certificate frame: a heavy outer rule and a thin inner rule.
            canvas.setLineWidth(item.num("inner_width", 0.5))
            inner = inset + gap + width / MM / 2
            canvas.rect(inner * MM, inner * MM, (w_mm - 2 * inner) * MM, (h_mm - 2 * inner) * MM)

    def draw_guilloche(self, canvas: Canvas, item: LayoutItem) -> None:
        """A decorative band of interlaced sine strands around the page (anti-copy look).

        The strands are pure functions of the layout, so their PDF path operators are computed
        once per template and appended as literal content (``addLiteral``): building ~5,000
        path segments through reportlab per render would double the render time.
        """
        inset, band = item.num("inset"), item.num("band")
        waves = int(item.props.get("waves", 60))
        strands = int(item.props.get("strands", 3))
        canvas.saveState()
        canvas.setStrokeColor(_color(item.props.get("color"), HexColor("#B8860B")))
        canvas.setLineWidth(0.35)
        canvas.addLiteral(
            _guilloche_ops(self.t.page.width_mm, self.t.page.height_mm, inset, band, waves, strands)
        )
        canvas.setLineWidth(0.8)
        w_mm, h_mm = self.t.page.width_mm, self.t.page.height_mm
        for edge in (inset, inset + band):
            canvas.rect(edge * MM, edge * MM, (w_mm - 2 * edge) * MM, (h_mm - 2 * edge) * MM)
        canvas.restoreState()

    def draw_qr(self, canvas: Canvas, matrix: tuple[bytearray, ...]) -> None:
        q = self.t.qr
        x, y, size = q.num("x"), q.num("y"), q.num("size")
        n = len(matrix)
        quiet = 4  # ISO/IEC 18004 §6.3.8: four-module quiet zone
        module = size * MM / (n + 2 * quiet)
        left, top = x * MM, self.y(y)
        canvas.setFillColor(_WHITE)
        canvas.rect(left, top - size * MM, size * MM, size * MM, stroke=0, fill=1)
        canvas.setFillColor(_BLACK)
        path = canvas.beginPath()
        overlap = module * 0.03  # hides hairline seams between rows in anti-aliasing viewers
        for r, row in enumerate(matrix):
            c = 0
            while c < n:
                if row[c] & 1:
                    start = c
                    while c < n and row[c] & 1:
                        c += 1
                    path.rect(
                        left + (quiet + start) * module,
                        top - (quiet + r + 1) * module - overlap,
                        (c - start) * module,
                        module + overlap,
                    )
                else:
                    c += 1
        canvas.drawPath(path, stroke=0, fill=1)
        caption = q.text("caption", "")
        if caption:
            self.text_at(
                canvas,
                caption,
                x + size / 2,
                y + size + q.num("caption_size", 8) * 1.2 / MM,
                font=self.t.default_font,
                size=q.num("caption_size", 8),
                align="center",
            )

    def draw_identifier(self, canvas: Canvas) -> None:
        item = self.t.identifier
        text = item.text("prefix", "证照标识：") + self.content.identifier
        font = item.text("font", self.t.default_font)
        size = item.num("size", 6.5)
        # Never let the identifier leave the page: shrink rather than clip (it must stay legible
        # for manual entry, so never below 4.5 pt — identifiers are at most ~90 characters).
        room = (self.t.page.width_mm - 20) * MM
        while size > 4.5 and fonts.string_width(text, font, size) > room:
            size -= 0.25
        self.text_at(
            canvas,
            text,
            item.num("x"),
            item.num("y"),
            font=font,
            size=size,
            align=item.text("align", "left"),
            color=item.props.get("color"),
        )

    def draw_print_mark(self, canvas: Canvas, item: LayoutItem) -> None:
        self.text_at(
            canvas,
            item.text("text", PRINT_MARK_TEXT),
            item.num("x"),
            item.num("y"),
            font=item.text("font", self.t.default_font),
            size=item.num("size", 9),
            align=item.text("align", "right"),
            color=item.props.get("color", "#666666"),
        )


@functools.lru_cache(maxsize=32)
def _guilloche_ops(
    w_mm: float, h_mm: float, inset: float, band: float, waves: int, strands: int
) -> str:
    """PDF path operators (points, origin bottom-left) for the guilloche strands, stroked."""
    mid = inset + band / 2
    # Centre line of the band, walked clockwise from the top-left corner (y downwards, in mm).
    sides = [
        ((mid, mid), (w_mm - mid, mid)),
        ((w_mm - mid, mid), (w_mm - mid, h_mm - mid)),
        ((w_mm - mid, h_mm - mid), (mid, h_mm - mid)),
        ((mid, h_mm - mid), (mid, mid)),
    ]
    perimeter = sum(abs(b[0] - a[0]) + abs(b[1] - a[1]) for a, b in sides)
    steps = max(400, waves * 16)
    amp = band / 2 * 0.9
    ops: list[str] = []
    for s in range(strands):
        phase = 2 * math.pi * s / strands
        for k in range(steps + 1):
            (x, y), (nx, ny) = _walk(sides, perimeter * k / steps)
            off = amp * math.sin(2 * math.pi * waves * k / steps + phase)
            ops.append(
                f"{pdf_number((x + nx * off) * MM, 2)} {pdf_number((h_mm - (y + ny * off)) * MM, 2)} "
                + ("m" if k == 0 else "l")
            )
        ops.append("S")
    return "\n".join(ops)


def _walk(
    sides: list[tuple[tuple[float, float], tuple[float, float]]], dist: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Point at ``dist`` along a closed rectangle and the outward normal there."""
    for (ax, ay), (bx, by) in sides:
        length = abs(bx - ax) + abs(by - ay)
        if dist <= length or (bx, by) == sides[-1][1]:
            f = min(1.0, dist / length) if length else 0.0
            dx, dy = (bx - ax) / length, (by - ay) / length
            return (ax + (bx - ax) * f, ay + (by - ay) * f), (dy, -dx)
        dist -= length
    raise AssertionError("unreachable")  # pragma: no cover


# --- caches ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _CachedImage:
    """An image already encoded as PDF XObjects (colour + soft mask), reusable across documents.

    reportlab re-decodes, re-hashes and re-compresses an image for every new canvas (~20 ms
    for a 600 dpi seal — half the render budget). The encoded stream does not depend on the
    document, so it is built once per distinct image and copied into each PDF.
    """

    name: str
    width: int
    height: int
    image: Any  # reportlab PDFImageXObject without document references
    smask: Any | None


_image_lock = threading.Lock()
_images: OrderedDict[bytes, _CachedImage] = OrderedDict()


def _cached_image(data: bytes) -> _CachedImage:
    key = hashlib.sha256(data).digest()
    with _image_lock:
        cached = _images.get(key)
        if cached is not None:
            _images.move_to_end(key)
            return cached
    try:
        reader = ImageReader(io.BytesIO(data))
        name = "img" + key.hex()[:24]
        xobject = PDFImageXObject(name, reader, mask="auto")
    except Exception as exc:  # PIL/reportlab raise many types for damaged images
        raise RenderingError("an image for the licence cannot be decoded") from exc
    smask = getattr(xobject, "_smask", None)
    if smask is not None:
        del xobject._smask
    cached = _CachedImage(name, int(xobject.width), int(xobject.height), xobject, smask)
    with _image_lock:
        _images[key] = cached
        while len(_images) > 32:
            _images.popitem(last=False)
    return cached


def _draw_cached_image(
    canvas: Canvas, cached: _CachedImage, x: float, y: float, width: float, height: float
) -> None:
    """What ``Canvas.drawImage`` does after its encoding step (reportlab 4/5 internals).

    tests/rendering checks the result with poppler (the image and its soft mask are present),
    so a reportlab change that breaks this shows up as a failing test, not a blank seal.
    """
    doc = canvas._doc
    reg_name = doc.getXObjectName(cached.name)
    if not doc.idToObject.get(reg_name):
        image = copy.copy(cached.image)
        doc.Reference(image, reg_name)
        doc.addForm(cached.name, image)
        if cached.smask is not None:
            smask = copy.copy(cached.smask)
            image.smask = doc.Reference(smask, doc.getXObjectName(smask.name))
    canvas._currentPageHasImages = 1
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(width, height)
    canvas._code.append(f"/{reg_name} Do")
    canvas.restoreState()
    canvas._formsinuse.append(cached.name)


def _fit(box_w: float, box_h: float, img_w: int, img_h: int) -> tuple[float, float, float, float]:
    """Centre an image in a box keeping its aspect ratio: (dx, dy, w, h)."""
    scale = min(box_w / img_w, box_h / img_h)
    w, h = img_w * scale, img_h * scale
    return (box_w - w) / 2, (box_h - h) / 2, w, h


def _qr_matrix(url: str) -> tuple[bytearray, ...]:
    try:
        # Error correction M (15 %): survives a fold or a stamp edge while keeping modules
        # large enough for phone cameras at 25–30 mm; boost_error=False keeps it exactly M.
        qr = segno.make(url, error="m", micro=False, boost_error=False)
    except segno.DataOverflowError as exc:
        raise RenderingError("verify URL is too long for a QR code") from exc
    return tuple(qr.matrix)


def _metadata(template: LicenceTemplate, content: LicenceContent) -> dict[str, str]:
    """GB/T 36903 metadata derived from the content; ``content.metadata`` overrides/extends."""
    derived = {
        "identifier": content.identifier,
        "licence_name": template.name,
        "type_code": template.type_code,
        "holder_name": content.holder_name,
        "holder_code": content.holder_id,
        # GB/T 36903-2018 持证主体代码类型: 001 统一社会信用代码, 111 公民身份号码.
        "holder_code_type": "001" if content.holder_id_type == "uscc" else "111",
        "issuer_name": content.department_name,
        "issuer_code": content.department_code,
        "issued_on": content.issued_on.isoformat(),
        "valid_from": content.valid_from.isoformat(),
        "valid_until": content.valid_until.isoformat(),
    }
    number = content.fields.get(template.number_field or "licence_number")
    if isinstance(number, str) and number:
        derived["licence_number"] = number
    derived.update(content.metadata)
    return derived


def layout_for(template: LicenceTemplate, content: LicenceContent) -> LicenceTemplate:
    """The layout a licence is drawn with: the template's bilingual one (``bilingual.json``)
    when the content carries the issuing department's Mongolian name, else the template."""
    if content.department_name_mn and template.bilingual is not None:
        return template.bilingual
    return template


def render_licence(
    template: LicenceTemplate, content: LicenceContent, *, seal_image_png: bytes
) -> RenderedLicence:
    """Render the electronic and print PDFs of one licence.

    Raises:
        ValidationFailedError: a value does not fit its box, or has a character without a glyph
            (listing every problem); nothing is ever drawn outside its box.
        RenderingError: the seal image or the verify URL cannot be used.
    """
    fonts.register_fonts()
    template = layout_for(template, content)
    plan = _plan(template, content)
    seal = _cached_image(seal_image_png)
    matrix = _qr_matrix(content.verify_url)
    electronic = _Painter(template, content, plan, is_print=False).run(None, matrix)
    printed = _Painter(template, content, plan, is_print=True).run(seal, matrix)
    return RenderedLicence(electronic_pdf=electronic, print_pdf=printed, seal_box=plan.seal_box)
