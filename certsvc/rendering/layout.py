"""Planning a page: every measurement and every refusal happens here, before anything is drawn.

The plan says which items are on which page, the lines each text is wrapped into, the size a
field shrank to, how a flowing text is paginated, and where the seal goes. A painter (the PDF
painter here, an OFD writer elsewhere) draws a plan and never measures or refuses anything.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass

from certsvc.domain.layout import SealBox
from certsvc.errors import ValidationFailedError
from certsvc.rendering import fonts
from certsvc.rendering.bilingual_layout import DEPARTMENT_NAME_MN, fit_mongolian
from certsvc.rendering.content import LicenceContent
from certsvc.rendering.template_fields import FieldSpec
from certsvc.rendering.template_model import (
    MM,
    LayoutItem,
    LicenceTemplate,
    format_date_cn,
    item_max_lines,
    table_cell_lines,
    table_columns,
)
from certsvc.rendering.text import wrap_text

__all__ = [
    "HOLDER_ID_TYPES",
    "FlowLine",
    "LayoutPlan",
    "PlacedItem",
    "item_size",
    "on_page",
    "page_index",
    "plan_layout",
]


HOLDER_ID_TYPES = ("uscc", "resident_id")


# --- planning: every measurement and every refusal happens before anything is drawn ----------
@dataclass(frozen=True)
class PlacedItem:
    item: LayoutItem
    lines: tuple[str, ...] = ()
    rows: tuple[tuple[tuple[str, ...], ...], ...] = ()  # table: row → cell → lines
    image: bytes | None = None
    size: float | None = None  # field items: the size chosen (shrink_to may reduce it)


@dataclass(frozen=True)
class FlowLine:
    text: str
    y_mm: float
    indent: bool
    justify: bool = False  # every line of a paragraph but its last is set flush on both sides


@dataclass(frozen=True)
class LayoutPlan:
    pages: int
    placed: tuple[PlacedItem, ...]
    flow_item: LayoutItem | None
    flow_pages: tuple[tuple[FlowLine, ...], ...]
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


def page_index(page: str, pages: int) -> int:
    if page == "last":
        return pages - 1
    if page.isdigit():
        return min(int(page), pages - 1)
    return 0


def on_page(item: LayoutItem, index: int, pages: int) -> bool:
    return item.page == "every" or page_index(item.page, pages) == index


def item_size(
    template: LicenceTemplate, item: LayoutItem, name: str = "size", default: float = 12.0
) -> float:
    return item.num(name, float(template.defaults.get("size", default)))


def plan_layout(template: LicenceTemplate, content: LicenceContent) -> LayoutPlan:
    problems: list[dict[str, str]] = []
    if content.holder_id_type not in HOLDER_ID_TYPES:
        problems.append({"field": "holder.id_type", "problem": "must be uscc or resident_id"})
    if not content.identifier:
        problems.append({"field": "identifier", "problem": "licence identifier is empty"})
    if content.valid_until < content.valid_from:
        problems.append({"field": "valid_until", "problem": "validity ends before it starts"})
    values: dict[str, object] = {**_builtin_values(content), **content.fields}
    specs: Mapping[str, FieldSpec] = template.field_map
    placed: list[PlacedItem] = []
    flow_item: LayoutItem | None = None
    flow_text = ""
    for item in template.items:
        source = item.source
        if item.kind == "mongolian":
            value = values.get(source) if source else item.text("text")
            mongolian = _place_mongolian(
                template, item, value, _SOURCE_PATH.get(source or "", "layout"), problems
            )
            if mongolian is not None:
                placed.append(mongolian)
            continue
        if source is None:
            placed.append(PlacedItem(item))
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
            placed.append(PlacedItem(item, lines=tuple(fitted[0]), size=fitted[1]))
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
            placed.append(PlacedItem(item, rows=tuple(rows_out)))
        elif item.kind == "image":
            data = None
            if isinstance(value, str) and value:
                try:
                    data = base64.b64decode(value, validate=True)
                except ValueError:
                    problems.append({"field": path, "problem": "image is not valid base64"})
            placed.append(PlacedItem(item, image=data))
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
    flow_pages: tuple[tuple[FlowLine, ...], ...] = ()
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
    seal_page = page_index(template.seal.page, pages)
    seal_box = _seal_box(template, seal_page)
    return LayoutPlan(pages, tuple(placed), flow_item, flow_pages, seal_box, seal_page)


def _place_mongolian(
    template: LicenceTemplate,
    item: LayoutItem,
    value: object,
    path: str,
    problems: list[dict[str, str]],
) -> PlacedItem | None:
    """Fit a ``mongolian`` item (rendering/bilingual_layout.py); ``None`` and a problem if it cannot."""
    if not value:
        problems.append(
            {"field": path, "problem": "the bilingual layout needs the department's Mongolian name"}
        )
        return None
    size = item_size(template, item)
    fitted = fit_mongolian(
        str(value),
        width_pt=item.num("width") * MM if "width" in item.props else None,
        size=size,
        max_lines=item_max_lines(item),
        smallest=item.num("shrink_to", size),
    )
    if fitted is None:
        problems.append(
            {"field": path, "problem": f"too long for its box ({item_max_lines(item)} line(s))"}
        )
        return None
    return PlacedItem(item, lines=tuple(fitted[0]), size=fitted[1])


def _paginate(
    template: LicenceTemplate, item: LayoutItem, text: str
) -> tuple[tuple[tuple[FlowLine, ...], ...], str | None]:
    """Break the flowing body into pages (GB/T 9704 style: 2-character first-line indent).

    The last page must keep room above ``last_page_bottom`` for the issuer, date and seal; if the
    tail of the body would run into it, the tail moves to a new page together with at least two
    lines of body, so the seal never stands alone on a page (GB/T 9704-2012 §7.3.5).
    """
    size = item_size(template, item)
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
    pages: list[list[FlowLine]] = [[]]
    y = top
    for line, first, justify in lines:
        if y > bottom:
            pages.append([])
            y = cont
        pages[-1].append(FlowLine(line, y, first, justify))
        y += leading
    overflow = [ln for ln in pages[-1] if ln.y_mm > last_bottom]
    if overflow:
        move = pages[-1][-max(2, len(overflow)) :]
        del pages[-1][-len(move) :]
        pages.append(
            [
                FlowLine(ln.text, cont + i * leading, ln.indent, ln.justify)
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
