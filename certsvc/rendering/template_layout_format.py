"""The layout of a template file as typed models: one model per item ``kind``, one per mark.

``layout.items`` is a union discriminated by ``kind`` (text, field, table, image, flow,
mongolian, line, rect, frame, guilloche); ``layout.qr``, ``layout.seal``, ``layout.identifier``
and ``layout.print_mark`` are the marks a licence carries once. What an item draws and whether it
lies on the page is checked by ``templates.py`` with the whole template in hand.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from certsvc.rendering.template_format import (
    Align,
    Bool,
    Color,
    DateFormat,
    Font,
    FormatModel,
    Int,
    Num,
    PageRef,
    Str,
    TextStyle,
    parse_part,
    sentences_of,
)

__all__ = [
    "ITEM_KINDS",
    "REQUIRED_MARKS",
    "LayoutItemDocument",
    "MarkDocument",
    "parse_item",
    "parse_mark",
]


# --- layout items, one model per kind -----------------------------------------------------------
class _Item(FormatModel):
    page: PageRef = "first"


class TextItem(_Item, TextStyle):
    kind: Literal["text"]
    text: Str
    x: Num
    y: Num
    char_space: Num | None = None
    bold: Bool | None = None
    width: Num | None = None
    leading: Num | None = None


class _MongolianLabel(FormatModel):
    """A Mongolian label before the Chinese one, both inside ``label_width`` (bilingual layouts)."""

    label_mn: Str | None = None
    label_mn_width: Num | None = None


class FieldItem(_Item, TextStyle, _MongolianLabel):
    kind: Literal["field"]
    field: Str
    x: Num
    y: Num
    width: Num
    label: Str | None = None
    label_width: Num | None = None
    label_font: Font | None = None
    label_size: Num | None = None
    label_justify: Bool | None = None
    label_suffix: Str | None = None
    leading: Num | None = None
    max_lines: Int | None = None
    format: DateFormat | None = None
    empty: Str | None = None
    underline: Bool | None = None
    suffix: Str | None = None
    shrink_to: Num | None = None
    bold: Bool | None = None


class TableColumn(FormatModel):
    key: Str
    width: Num
    align: Align | None = None  # of the cells; the header is centred


class TableItem(_Item, TextStyle):
    kind: Literal["table"]
    field: Str
    x: Num
    y: Num
    columns: list[TableColumn]
    row_height: Num | None = None
    header_font: Font | None = None
    header_size: Num | None = None
    line_width: Num | None = None


class ImageItem(_Item):
    kind: Literal["image"]
    field: Str
    x: Num
    y: Num
    width: Num
    height: Num
    border: Num | None = None
    color: Color | None = None


class FlowItem(_Item, TextStyle):
    """Long text that continues onto further pages; at most one per template."""

    kind: Literal["flow"]
    field: Str
    x: Num
    y: Num
    width: Num
    bottom: Num
    continue_y: Num | None = None
    last_page_bottom: Num | None = None
    leading: Num | None = None
    indent: Num | None = None
    max_pages: Int | None = None


class MongolianItem(_Item):
    """Mongolian text, or the department's Mongolian name (rendering/bilingual_layout.py)."""

    kind: Literal["mongolian"]
    text: Str | None = None
    field: Str | None = None
    x: Num
    y: Num
    size: Num | None = None
    align: Align | None = None
    color: Color | None = None
    width: Num | None = None  # mm; with it, the text wraps at spaces and may shrink
    max_lines: Int | None = None
    leading: Num | None = None  # mm between baselines
    shrink_to: Num | None = None  # smallest size (pt) before the text is refused


class LineItem(_Item):
    kind: Literal["line"]
    x1: Num
    y1: Num
    x2: Num
    y2: Num
    width: Num | None = None
    color: Color | None = None


class RectItem(_Item):
    kind: Literal["rect"]
    x: Num
    y: Num
    w: Num
    h: Num
    width: Num | None = None
    color: Color | None = None
    fill: Color | None = None


class FrameItem(_Item):
    kind: Literal["frame"]
    inset: Num
    width: Num | None = None
    color: Color | None = None
    gap: Num | None = None
    inner_width: Num | None = None
    corner: Num | None = None


class GuillocheItem(_Item):
    kind: Literal["guilloche"]
    inset: Num
    band: Num
    color: Color | None = None
    waves: Int | None = None
    strands: Int | None = None


_ITEM_MODELS = (
    TextItem,
    FieldItem,
    TableItem,
    ImageItem,
    FlowItem,
    MongolianItem,
    LineItem,
    RectItem,
    FrameItem,
    GuillocheItem,
)
ITEM_KINDS: tuple[str, ...] = tuple(
    get_args(model.model_fields["kind"].annotation)[0] for model in _ITEM_MODELS
)
LayoutItemDocument = Annotated[
    TextItem
    | FieldItem
    | TableItem
    | ImageItem
    | FlowItem
    | MongolianItem
    | LineItem
    | RectItem
    | FrameItem
    | GuillocheItem,
    Field(discriminator="kind"),
]
_ITEM = TypeAdapter[Any](LayoutItemDocument)


# --- the marks every licence carries once -------------------------------------------------------
class QrMark(_Item):
    x: Num
    y: Num
    size: Num
    caption: Str | None = None
    caption_size: Num | None = None


class SealMark(_Item):
    cx: Num
    cy: Num
    diameter: Num


class IdentifierMark(_Item):
    x: Num
    y: Num
    size: Num | None = None
    align: Align | None = None
    prefix: Str | None = None
    font: Font | None = None
    color: Color | None = None


class PrintMark(_Item):
    """The mark that tells a print copy from the electronic licence."""

    x: Num
    y: Num
    text: Str | None = None
    size: Num | None = None
    align: Align | None = None
    font: Font | None = None
    color: Color | None = None


MarkDocument = QrMark | SealMark | IdentifierMark | PrintMark
_MARKS: Mapping[str, type[MarkDocument]] = {
    "qr": QrMark,
    "seal": SealMark,
    "identifier": IdentifierMark,
    "print_mark": PrintMark,
}
REQUIRED_MARKS = ("qr", "seal", "identifier")


def parse_item(raw: object, where: str) -> tuple[BaseModel | None, list[str]]:
    """One ``layout.items`` entry as the model of its ``kind``."""
    if not isinstance(raw, dict):
        return None, [f"{where}: must be an object"]
    try:
        item: BaseModel = _ITEM.validate_python(raw)
        return item, []
    except ValidationError as exc:
        known = ", ".join(ITEM_KINDS)
        if any(e["type"].startswith("union_tag_") for e in exc.errors()):
            return None, [f"{where}: unknown kind {raw.get('kind')!r} (known: {known})"]
        return None, sentences_of(exc, f"{where} ({raw.get('kind')})", tagged=True)


def parse_mark(name: str, raw: object) -> tuple[MarkDocument | None, list[str]]:
    """``layout.qr``, ``layout.seal``, ``layout.identifier`` or ``layout.print_mark``."""
    return parse_part(_MARKS[name], raw, f"layout.{name}")
