"""Painting a layout plan onto a reportlab canvas, in two layers.

The **static** layer is everything the template alone decides (frame, guilloche, rules, fixed
texts, field labels, table grids); it is drawn once per template and replayed
(``static_layer.py``). The **licence** layer is the licence's own data: values, table rows,
photo, flowing text, QR code and identifier. The print copy adds its 打印件 note and the seal
image (``pdf_variants.py``).
"""

from __future__ import annotations

from reportlab.lib.colors import Color, HexColor
from reportlab.pdfgen.canvas import Canvas

from certsvc.rendering import fonts
from certsvc.rendering.bilingual_layout import draw_mongolian_item, draw_mongolian_line
from certsvc.rendering.content import LicenceContent
from certsvc.rendering.drawing import (
    CachedImage,
    cached_image,
    draw_cached_image,
    draw_guilloche,
    draw_qr_modules,
    fit_image,
)
from certsvc.rendering.layout import FlowLine, LayoutPlan, PlacedItem, item_size, on_page
from certsvc.rendering.template_model import MM, LayoutItem, LicenceTemplate, table_columns
from certsvc.rendering.text import wrap_text

__all__ = ["PRINT_MARK_TEXT", "PdfPainter", "label_is_static"]


PRINT_MARK_TEXT = "打印件"
_BLACK = HexColor("#000000")


_color_cache: dict[str, Color] = {}


def _color(value: str | None, default: Color = _BLACK) -> Color:
    if not value:
        return default
    color = _color_cache.get(value)
    if color is None:
        color = _color_cache[value] = HexColor(value)
    return color


def label_is_static(item: LayoutItem) -> bool:
    """Whether a field's label looks the same on every licence: its size is its own, or the
    field never shrinks (a shrinking field's label takes the fitted size of the value)."""
    return "label_size" in item.props or "shrink_to" not in item.props


class PdfPainter:
    """Draws a plan's layers onto a canvas, page by page."""

    def __init__(self, template: LicenceTemplate, content: LicenceContent, plan: LayoutPlan) -> None:
        self.t = template
        self.content = content
        self.plan = plan
        self.h = template.page.height
        self.default_color = str(template.defaults.get("color", "#000000"))
        self.page = 0
        self.images: list[CachedImage] = []  # drawn on the current page (the print copy re-uses them)

    def y(self, mm: float) -> float:
        return self.h - mm * MM

    def draw_static(self, canvas: Canvas, page: int) -> None:
        """What the template alone decides on page ``page``: the same for every licence."""
        self.page = page
        for placed in self.plan.placed:
            if on_page(placed.item, page, self.plan.pages):
                self.draw_item(canvas, placed, static=True)

    def draw_licence(self, canvas: Canvas, page: int, qr_matrix: tuple[bytearray, ...]) -> None:
        """The licence's own data on page ``page``, over its static layer."""
        self.page = page
        self.images = []
        t, plan = self.t, self.plan
        for placed in plan.placed:
            if on_page(placed.item, page, plan.pages):
                self.draw_item(canvas, placed, static=False)
        if plan.flow_item is not None and page < len(plan.flow_pages):
            self.draw_flow(canvas, plan.flow_item, plan.flow_pages[page])
        if on_page(t.qr, page, plan.pages):
            self.draw_qr(canvas, qr_matrix)
        if on_page(t.identifier, page, plan.pages):
            self.draw_identifier(canvas)

    def draw_print_extras(self, canvas: Canvas, page: int, seal_image: CachedImage | None) -> None:
        """The print copy's own marks: the 打印件 note and the seal image in the seal box."""
        t, plan = self.t, self.plan
        if t.print_mark is not None and on_page(t.print_mark, page, plan.pages):
            self.draw_print_mark(canvas, t.print_mark)
        if seal_image is not None and page == plan.seal_page:
            box = plan.seal_box
            draw_cached_image(canvas, seal_image, box.x1, box.y1, box.width, box.height)

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

    def draw_item(self, canvas: Canvas, placed: PlacedItem, *, static: bool) -> None:
        """Draw the part of ``placed`` that belongs to one layer (static or the licence's)."""
        item = placed.item
        kind = item.kind
        t = self.t
        if kind == "field":
            if static == label_is_static(item):
                self.draw_field_label(canvas, placed)
            if not static:
                self.draw_field_value(canvas, placed)
            return
        if kind == "table":
            if static == (t.field_map[item.source or ""].max_rows is not None):
                self.draw_table_grid(canvas, placed)
            if not static:
                self.draw_table_rows(canvas, placed)
            return
        if kind == "image":  # a photo from the licence; its frame stays with it, over it
            if not static:
                self.draw_image(canvas, placed)
            return
        if kind == "mongolian" and item.source is not None:  # a field's Mongolian text
            if not static:
                self.draw_mongolian(canvas, placed)
            return
        if not static:
            return
        if kind == "text":
            # "{page}" / "{pages}" give GB/T 9704 page numbers ("— 1 —") on multi-page documents.
            text = (
                item.text("text")
                .replace("{page}", str(self.page + 1))
                .replace("{pages}", str(self.plan.pages))
            )
            font, size = item.text("font", t.default_font), item_size(t, item)
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
            self.draw_mongolian(canvas, placed)
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
            draw_guilloche(canvas, item, self.t.page.width_mm, self.t.page.height_mm)

    def draw_mongolian(self, canvas: Canvas, placed: PlacedItem) -> None:
        item = placed.item
        size = placed.size or item_size(self.t, item)
        draw_mongolian_item(
            canvas,
            placed.lines,
            x_mm=item.num("x"),
            width_mm=item.num("width") if "width" in item.props else None,
            baseline_pt=self.y,
            y_mm=item.num("y"),
            leading_mm=item.num("leading", size * 1.4 / MM),
            size=size,
            align=item.text("align", "left"),
            color=_color(item.props.get("color") or self.default_color),
        )

    def draw_field_label(self, canvas: Canvas, placed: PlacedItem) -> None:
        item, t = placed.item, self.t
        x, y = item.num("x"), item.num("y")
        size = placed.size or item_size(t, item)
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

    def draw_field_value(self, canvas: Canvas, placed: PlacedItem) -> None:
        item, t = placed.item, self.t
        y = item.num("y")
        font = item.text("font", t.default_font)
        size = placed.size or item_size(t, item)
        color = item.props.get("color")
        leading = item.num("leading", size * 1.5 / MM)
        align = item.text("align", "left")
        # The value column starts after the whole label column (Mongolian label included).
        vx = item.num("x") + item.num("label_width", 0.0)
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

    def draw_table_grid(self, canvas: Canvas, placed: PlacedItem) -> None:
        """The table's rules and its header row (the licence's rows are drawn into them)."""
        item, t = placed.item, self.t
        spec = t.field_map[item.source or ""]
        labels = {c.key: c.label for c in spec.columns}
        columns = table_columns(item)
        x0, y0 = item.num("x"), item.num("y")
        row_h = item.num("row_height", 8.0)
        size = item_size(t, item, default=10.5)
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

    def draw_table_rows(self, canvas: Canvas, placed: PlacedItem) -> None:
        item, t = placed.item, self.t
        columns = table_columns(item)
        x0, y0 = item.num("x"), item.num("y")
        row_h = item.num("row_height", 8.0)
        size = item_size(t, item, default=10.5)
        font = item.text("font", t.default_font)
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

    def draw_image(self, canvas: Canvas, placed: PlacedItem) -> None:
        item = placed.item
        x, y, w, h = item.num("x"), item.num("y"), item.num("width"), item.num("height")
        if placed.image:
            cached = cached_image(placed.image)
            dx, dy, iw, ih = fit_image(w * MM, h * MM, cached.width, cached.height)
            draw_cached_image(canvas, cached, x * MM + dx, self.y(y + h) + dy, iw, ih)
            self.images.append(cached)
        border = item.num("border", 0.5)
        if border > 0:
            canvas.setStrokeColor(_color(item.props.get("color")))
            canvas.setLineWidth(border)
            canvas.rect(x * MM, self.y(y + h), w * MM, h * MM)

    def draw_flow(self, canvas: Canvas, item: LayoutItem, lines: tuple[FlowLine, ...]) -> None:
        t = self.t
        size = item_size(t, item)
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

    def draw_qr(self, canvas: Canvas, matrix: tuple[bytearray, ...]) -> None:
        q = self.t.qr
        x, y, size = q.num("x"), q.num("y"), q.num("size")
        draw_qr_modules(canvas, matrix, x * MM, self.y(y), size * MM)
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
