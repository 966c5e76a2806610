"""Licence templates as data: ``templates/<slug>/template.json`` + ``sample.json``.

A template declares the licence type (name, GB/T 36904 type code), its field schema and its
layout. Templates are data, not code, so a province can add a licence type without a release;
the price is that everything a template says must be checked here, at start-up, with every
problem listed and the file named — never discovered while a clerk is issuing.

Coordinates in ``layout`` are millimetres from the *top-left* corner of the page (the way a
designer measures a paper form); the renderer converts to PDF points.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import io
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from certsvc.domain.identifiers import HolderIdType, is_valid_uscc, validate_holder_id
from certsvc.domain.licence import LicenceKind
from certsvc.errors import (
    BadRequestError,
    ConfigurationError,
    UnknownTemplateError,
    ValidationFailedError,
)
from certsvc.rendering.bilingual_layout import (
    BILINGUAL_FILE,
    DEPARTMENT_NAME_MN,
    MONGOLIAN_ITEM_SCHEMA,
    MONGOLIAN_LABEL_PROPS,
    check_mongolian_item,
)
from certsvc.rendering.catalogue_entry import CatalogueEntry, load_catalogue_entry
from certsvc.rendering.fonts import (
    FALLBACK_FONT,
    FONT_KEYS,
    fallback_available,
    missing_glyphs,
    register_fonts,
)
from certsvc.rendering.text import wrap_text

__all__ = [
    "BUILTIN_SOURCES",
    "MM",
    "FieldSpec",
    "FieldType",
    "LayoutItem",
    "LicenceTemplate",
    "PageSpec",
    "TemplateRegistry",
    "format_date_cn",
]

MM = 72.0 / 25.4  # PDF points per millimetre

_SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_COLOR_RE = re.compile(r"^#[0-9A-Fa-f]{6}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER_RE = re.compile(r"^-?\d{1,15}(\.\d{1,6})?$")

# Values that come from the request envelope or the issuing context rather than ``fields``.
BUILTIN_SOURCES: frozenset[str] = frozenset(
    {
        "$holder_name",
        "$holder_id",
        "$department_name",
        "$department_code",
        "$issued_on",
        "$valid_from",
        "$valid_until",
        "$validity",
        "$identifier",
        DEPARTMENT_NAME_MN,  # only in bilingual layouts, drawn by a "mongolian" item
    }
)

# Page sizes in mm (portrait). CARD is ISO/IEC 7810 ID-1 scaled up ×1.5 so that a 4.8 mm
# minimum-legible Chinese size still fits two columns; it prints on A6 paper.
_PAGE_SIZES: Mapping[str, tuple[float, float]] = {
    "A3": (297.0, 420.0),
    "A4": (210.0, 297.0),
    "A5": (148.0, 210.0),
    "A6": (105.0, 148.0),
    "CARD": (128.4, 81.0),
}

_IMAGE_MAX_BYTES = 2 * 1024 * 1024


class FieldType(StrEnum):
    TEXT = "text"
    DATE = "date"
    NUMBER = "number"
    ENUM = "enum"
    MULTILINE = "multiline"
    TABLE = "table"
    IMAGE = "image"


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One entry of a template's field schema."""

    key: str
    label: str
    type: FieldType
    required: bool = True
    max_length: int | None = None
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    columns: tuple[FieldSpec, ...] = ()  # table columns (their type is text/number/date/enum)
    max_rows: int | None = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True, slots=True)
class LayoutItem:
    """One thing drawn on the page; ``props`` were checked against ``_ITEM_SCHEMAS`` at load."""

    kind: str
    props: Mapping[str, Any]
    page: str = "first"  # "first" | "last" | "every" | "N" (0-based index as a string)

    @property
    def source(self) -> str | None:
        value = self.props.get("field")
        return value if isinstance(value, str) else None

    def num(self, name: str, default: float = 0.0) -> float:
        value = self.props.get(name, default)
        return float(value) if value is not None else default

    def text(self, name: str, default: str = "") -> str:
        value = self.props.get(name, default)
        return str(value) if value is not None else default


@dataclass(frozen=True, slots=True)
class PageSpec:
    width_mm: float
    height_mm: float

    @property
    def width(self) -> float:
        return self.width_mm * MM

    @property
    def height(self) -> float:
        return self.height_mm * MM


# --- the layout schema ------------------------------------------------------------------------
# prop name → (accepted python types, required). ``kind`` and ``page`` are common to all.
_NUM = (int, float)
_Schema = Mapping[str, tuple[tuple[type, ...], bool]]
_TEXT_STYLE: _Schema = {
    "font": ((str,), False),
    "size": (_NUM, False),
    "color": ((str,), False),
    "align": ((str,), False),
}
_ITEM_SCHEMAS: Mapping[str, _Schema] = {
    "text": {
        "text": ((str,), True),
        "x": (_NUM, True),
        "y": (_NUM, True),
        "char_space": (_NUM, False),
        "bold": ((bool,), False),
        "width": (_NUM, False),
        "leading": (_NUM, False),
        **_TEXT_STYLE,
    },
    "field": {
        "field": ((str,), True),
        "x": (_NUM, True),
        "y": (_NUM, True),
        "width": (_NUM, True),
        "label": ((str, type(None)), False),
        "label_width": (_NUM, False),
        "label_font": ((str,), False),
        "label_size": (_NUM, False),
        "label_justify": ((bool,), False),
        "label_suffix": ((str,), False),
        "leading": (_NUM, False),
        "max_lines": ((int,), False),
        "format": ((str,), False),
        "empty": ((str,), False),
        "underline": ((bool,), False),
        "suffix": ((str,), False),
        "shrink_to": (_NUM, False),
        "bold": ((bool,), False),
        **MONGOLIAN_LABEL_PROPS,
        **_TEXT_STYLE,
    },
    "table": {
        "field": ((str,), True),
        "x": (_NUM, True),
        "y": (_NUM, True),
        "columns": ((list,), True),
        "row_height": (_NUM, False),
        "header_font": ((str,), False),
        "header_size": (_NUM, False),
        "line_width": (_NUM, False),
        **_TEXT_STYLE,
    },
    "image": {
        "field": ((str,), True),
        "x": (_NUM, True),
        "y": (_NUM, True),
        "width": (_NUM, True),
        "height": (_NUM, True),
        "border": (_NUM, False),
        "color": ((str,), False),
    },
    "flow": {
        "field": ((str,), True),
        "x": (_NUM, True),
        "y": (_NUM, True),
        "width": (_NUM, True),
        "bottom": (_NUM, True),
        "continue_y": (_NUM, False),
        "last_page_bottom": (_NUM, False),
        "leading": (_NUM, False),
        "indent": (_NUM, False),
        "max_pages": ((int,), False),
        **_TEXT_STYLE,
    },
    "mongolian": MONGOLIAN_ITEM_SCHEMA,
    "line": {
        "x1": (_NUM, True),
        "y1": (_NUM, True),
        "x2": (_NUM, True),
        "y2": (_NUM, True),
        "width": (_NUM, False),
        "color": ((str,), False),
    },
    "rect": {
        "x": (_NUM, True),
        "y": (_NUM, True),
        "w": (_NUM, True),
        "h": (_NUM, True),
        "width": (_NUM, False),
        "color": ((str,), False),
        "fill": ((str, type(None)), False),
    },
    "frame": {
        "inset": (_NUM, True),
        "width": (_NUM, False),
        "color": ((str,), False),
        "gap": (_NUM, False),
        "inner_width": (_NUM, False),
        "corner": (_NUM, False),
    },
    "guilloche": {
        "inset": (_NUM, True),
        "band": (_NUM, True),
        "color": ((str,), False),
        "waves": ((int,), False),
        "strands": ((int,), False),
    },
}
_SINGLETON_SCHEMAS: Mapping[str, _Schema] = {
    "qr": {
        "x": (_NUM, True),
        "y": (_NUM, True),
        "size": (_NUM, True),
        "caption": ((str,), False),
        "caption_size": (_NUM, False),
        "page": ((str,), False),
    },
    "seal": {
        "cx": (_NUM, True),
        "cy": (_NUM, True),
        "diameter": (_NUM, True),
        "page": ((str,), False),
    },
    "identifier": {
        "x": (_NUM, True),
        "y": (_NUM, True),
        "size": (_NUM, False),
        "align": ((str,), False),
        "prefix": ((str,), False),
        "font": ((str,), False),
        "color": ((str,), False),
        "page": ((str,), False),
    },
    "print_mark": {
        "x": (_NUM, True),
        "y": (_NUM, True),
        "text": ((str,), False),
        "size": (_NUM, False),
        "align": ((str,), False),
        "font": ((str,), False),
        "color": ((str,), False),
        "page": ((str,), False),
    },
}
_REQUIRED_SINGLETONS = ("qr", "seal", "identifier")
_ALIGNS = frozenset({"left", "center", "right"})
_FORMATS = frozenset({"date_cn", "iso", "plain"})
_FIELD_KINDS_FOR_TYPE: Mapping[FieldType, frozenset[str]] = {
    FieldType.TABLE: frozenset({"table"}),
    FieldType.IMAGE: frozenset({"image"}),
    FieldType.MULTILINE: frozenset({"field", "flow"}),
}
_DEFAULT_FIELD_KINDS = frozenset({"field"})


def format_date_cn(value: date) -> str:
    """2026年3月5日 — GB/T 9704-2012 §7.3.5.3 writes dates in Arabic numerals without padding."""
    return f"{value.year}年{value.month}月{value.day}日"


@dataclass(frozen=True)
class LicenceTemplate:
    """A loaded, checked template. Immutable and shared between threads."""

    slug: str
    name: str
    type_code: str
    page: PageSpec
    fields: tuple[FieldSpec, ...]
    items: tuple[LayoutItem, ...]
    qr: LayoutItem
    seal: LayoutItem
    identifier: LayoutItem
    print_mark: LayoutItem | None
    sample_path: Path
    directory: Path
    description: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    # The same licence laid out in Mongolian and Chinese (``bilingual.json``), used for
    # bilingual departments; see rendering/bilingual_layout.py.
    bilingual: LicenceTemplate | None = None
    # The seal purpose (公章, 行政许可专用章 ...) that seals this licence; None: the department's default seal.
    seal_purpose: str | None = None
    # What the licence type is for the catalogue (``catalogue.json``): definer, holders, validity.
    catalogue: CatalogueEntry | None = None

    @property
    def field_map(self) -> Mapping[str, FieldSpec]:
        return {f.key: f for f in self.fields}

    def items_for(self, source: str) -> list[LayoutItem]:
        return [item for item in self.items if item.source == source]

    def fonts_for(self, source: str) -> set[str]:
        """Every font a value is drawn in (glyph checks must pass for all of them)."""
        fonts = {self.default_font}
        for item in self.items_for(source):
            fonts.add(item.text("font", self.default_font))
            if item.kind == "table":
                fonts.add(item.text("header_font", self.default_font))
        return fonts

    @property
    def default_font(self) -> str:
        return str(self.defaults.get("font", "song"))

    @property
    def number_field(self) -> str | None:
        """The field holding the licence's printed number (GB/T 36903 证照编号), if any.

        By convention its key is ``licence_number`` or ends in ``_number`` (``permit_number``,
        ``certificate_number``, the 发文字号 ``decision_number``); the first such text field.
        """
        for spec in self.fields:
            if spec.type is FieldType.TEXT and (
                spec.key == "licence_number" or spec.key.endswith("_number")
            ):
                return spec.key
        return None

    @property
    def kind(self) -> LicenceKind:
        """The template as a licence kind: what a licence record needs of it."""
        return LicenceKind(slug=self.slug, name=self.name, type_code=self.type_code, number_field=self.number_field)

    def load_sample(self) -> dict[str, Any]:
        """The sample request (API body shape) shipped with the template."""
        data: dict[str, Any] = json.loads(self.sample_path.read_text(encoding="utf-8"))
        return data

    # --- request validation --------------------------------------------------------------
    def validate_fields(self, fields: Mapping[str, object]) -> dict[str, object]:
        """Check ``fields`` against the schema and the layout; return normalised values.

        Normalised values are JSON-friendly: text/enum/multiline → ``str`` (trimmed, ``\\r\\n`` →
        ``\\n``), date → ISO ``YYYY-MM-DD`` string, number → its exact decimal text, table → list of
        ``{column: str}``, image → canonical base64 of the PNG/JPEG bytes. Optional fields that
        are absent or empty are left out.

        Raises:
            ValidationFailedError: with ``details=[{"field", "problem"}]`` listing every problem.
        """
        problems: list[dict[str, str]] = []
        result: dict[str, object] = {}
        specs = self.field_map
        for key in fields:
            if key not in specs:
                problems.append(
                    {"field": key, "problem": f"unknown field; {self.name} has no field {key!r}"}
                )
        for spec in self.fields:
            raw = fields.get(spec.key)
            if _is_empty(raw):
                if spec.required:
                    problems.append(
                        {"field": spec.key, "problem": f"required field {spec.label} is missing"}
                    )
                continue
            value, field_problems = _normalise(spec, raw, self.fonts_for(spec.key))
            for path, problem in field_problems:
                problems.append({"field": path, "problem": problem})
            if field_problems:
                continue
            fit = self._fit_problems(spec, value)
            if fit:
                problems.append({"field": spec.key, "problem": fit})
                continue
            result[spec.key] = value
        if problems:
            raise ValidationFailedError(
                f"{len(problems)} problem(s) in the fields of {self.name}",
                details=problems,
            )
        return result

    def display_text(self, source: str, value: object, item: LayoutItem) -> str:
        """The string printed for a value in one layout item."""
        if value is None or value == "":
            return item.text("empty", "")
        fmt = item.text("format", "")
        spec = self.field_map.get(source)
        is_date = source in ("$issued_on", "$valid_from", "$valid_until") or (
            spec is not None and spec.type is FieldType.DATE
        )
        if isinstance(value, date):
            return value.isoformat() if fmt == "iso" else format_date_cn(value)
        if is_date and isinstance(value, str) and fmt != "iso" and fmt != "plain":
            return format_date_cn(date.fromisoformat(value))
        return str(value)

    def field_lines(self, item: LayoutItem, text: str) -> list[str] | None:
        """Wrap ``text`` into a ``field`` item's box; ``None`` when it does not fit."""
        fitted = self.fit_field(item, text)
        return None if fitted is None else fitted[0]

    def fit_field(self, item: LayoutItem, text: str) -> tuple[list[str], float] | None:
        """Lines and font size for a ``field`` item, or ``None`` when it does not fit.

        With ``shrink_to`` the size steps down by 0.5 pt until the text fits (GB/T 9704-2012
        §7.2.1 allows a smaller size for an over-long 发文机关标志); without it, a value that
        does not fit is refused rather than shrunk to illegibility.
        """
        font = item.text("font", self.default_font)
        size = item.num("size", float(self.defaults.get("size", 12)))
        text = text + item.text("suffix", "") if text else text
        smallest = item.num("shrink_to", size)
        while True:
            lines = wrap_text(
                text,
                width=item.num("width") * MM,
                font=font,
                size=size,
                max_lines=item_max_lines(item),
            )
            if lines is not None:
                return lines, size
            if size - 0.5 < smallest - 1e-9:
                return None
            size -= 0.5

    def _fit_problems(self, spec: FieldSpec, value: object) -> str | None:
        for item in self.items_for(spec.key):
            if item.kind == "field":
                text = self.display_text(spec.key, value, item)
                if self.field_lines(item, text) is None:
                    return (
                        f"{spec.label} is too long for its place on the licence "
                        f"(room for {item_max_lines(item)} line(s) of about "
                        f"{_chars_per_line(self, item)} characters)"
                    )
            elif item.kind == "table" and isinstance(value, list):
                problem = table_fit_problem(self, item, spec, value)
                if problem:
                    return problem
        return None


def item_max_lines(item: LayoutItem) -> int:
    value = item.props.get("max_lines", 1)
    return int(value) if isinstance(value, int) else 1


def _chars_per_line(template: LicenceTemplate, item: LayoutItem) -> int:
    size = item.num("size", float(template.defaults.get("size", 12)))
    return max(1, int(item.num("width") * MM // size))


def table_columns(item: LayoutItem) -> list[dict[str, Any]]:
    columns = item.props.get("columns", [])
    return [c for c in columns if isinstance(c, dict)]


def table_cell_lines(
    template: LicenceTemplate, item: LayoutItem, column: Mapping[str, Any], text: str
) -> list[str] | None:
    size = item.num("size", float(template.defaults.get("size", 10.5)))
    row_height = item.num("row_height", 8.0) * MM
    max_lines = max(1, int((row_height - 2) // (size * 1.2)))
    pad = 1.2 * MM
    return wrap_text(
        text,
        width=float(column["width"]) * MM - 2 * pad,
        font=item.text("font", template.default_font),
        size=size,
        max_lines=max_lines,
    )


def table_fit_problem(
    template: LicenceTemplate, item: LayoutItem, spec: FieldSpec, rows: list[Any]
) -> str | None:
    labels = {c.key: c.label for c in spec.columns}
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            continue
        for column in table_columns(item):
            text = str(row.get(column["key"], ""))
            if table_cell_lines(template, item, column, text) is None:
                return f"row {index + 1}, {labels.get(column['key'], column['key'])}: too long for its cell"
    return None


def _is_empty(raw: object) -> bool:
    return (
        raw is None
        or (isinstance(raw, str) and not raw.strip())
        or (isinstance(raw, list) and not raw)
    )


def _glyph_problem(text: str, fonts: Iterable[str]) -> str | None:
    missing = missing_glyphs(text, fonts)
    if not missing:
        return None
    shown = "、".join(f"“{ch}”(U+{ord(ch):04X})" for ch in missing[:5])
    hint = "" if fallback_available() else f" (the operator can install {FALLBACK_FONT.package})"
    return (
        f"contains character(s) the licence font cannot print: {shown}; "
        f"use a common equivalent character or contact the operator{hint}"
    )


def _normalise(
    spec: FieldSpec, raw: object, fonts: set[str]
) -> tuple[object, list[tuple[str, str]]]:
    """Normalise one present value; returns (value, [(field path, problem)])."""
    key = spec.key
    problems: list[tuple[str, str]] = []
    if spec.type is FieldType.TABLE:
        return _normalise_table(spec, raw, fonts)
    if spec.type is FieldType.IMAGE:
        return _normalise_image(spec, raw)
    if spec.type is FieldType.NUMBER:
        if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
            return None, [(key, f"{spec.label} must be a number")]
        text = str(raw).strip()
        if (isinstance(raw, float) and not math.isfinite(raw)) or not _NUMBER_RE.match(text):
            return None, [(key, f"{spec.label} must be a decimal number like 12 or 12.5")]
        # Kept as the exact decimal text ("23.90" stays "23.90"): a float would lose the
        # precision the applicant wrote, and the licence must print what was approved.
        number = Decimal(text)
        if spec.minimum is not None and number < Decimal(str(spec.minimum)):
            problems.append((key, f"{spec.label} must be at least {spec.minimum:g}"))
        if spec.maximum is not None and number > Decimal(str(spec.maximum)):
            problems.append((key, f"{spec.label} must be at most {spec.maximum:g}"))
        return text, problems
    if not isinstance(raw, str):
        return None, [(key, f"{spec.label} must be a string")]
    text = raw.replace("\r\n", "\n").replace("\r", "\n").strip()
    if spec.type is FieldType.DATE:
        if not _DATE_RE.match(text):
            return None, [(key, f"{spec.label} must be a date YYYY-MM-DD")]
        try:
            date.fromisoformat(text)
        except ValueError:
            return None, [(key, f"{spec.label} is not a real calendar date")]
        return text, []
    if spec.type is not FieldType.MULTILINE and "\n" in text:
        problems.append((key, f"{spec.label} must be a single line"))
    if spec.max_length is not None and len(text) > spec.max_length:
        problems.append(
            (key, f"{spec.label} is too long: {len(text)} characters, at most {spec.max_length}")
        )
    if spec.pattern is not None and not re.fullmatch(spec.pattern, text):
        problems.append((key, f"{spec.label} does not have the required format ({spec.pattern})"))
    if spec.type is FieldType.ENUM and text not in spec.enum:
        problems.append((key, f"{spec.label} must be one of: {'、'.join(spec.enum)}"))
    glyphs = _glyph_problem(text, fonts)
    if glyphs:
        problems.append((key, f"{spec.label} {glyphs}"))
    return text, problems


def _normalise_table(
    spec: FieldSpec, raw: object, fonts: set[str]
) -> tuple[object, list[tuple[str, str]]]:
    if not isinstance(raw, list) or not all(isinstance(r, Mapping) for r in raw):
        return None, [(spec.key, f"{spec.label} must be a list of rows (objects)")]
    problems: list[tuple[str, str]] = []
    if spec.max_rows is not None and len(raw) > spec.max_rows:
        problems.append((spec.key, f"{spec.label} has {len(raw)} rows, at most {spec.max_rows}"))
    columns = {c.key: c for c in spec.columns}
    rows: list[dict[str, str]] = []
    for index, row in enumerate(raw):
        out: dict[str, str] = {}
        for name in row:
            if name not in columns:
                problems.append((f"{spec.key}[{index}].{name}", "unknown column"))
        for column in spec.columns:
            path = f"{spec.key}[{index}].{column.key}"
            cell = row.get(column.key)
            if _is_empty(cell):
                if column.required:
                    problems.append((path, f"{column.label} is missing in row {index + 1}"))
                out[column.key] = ""
                continue
            value, cell_problems = _normalise(column, cell, fonts)
            problems.extend((path, p) for _, p in cell_problems)
            out[column.key] = str(value) if value is not None else ""
        rows.append(out)
    return rows, problems


def _normalise_image(spec: FieldSpec, raw: object) -> tuple[object, list[tuple[str, str]]]:
    if not isinstance(raw, str):
        return None, [(spec.key, f"{spec.label} must be a base64-encoded PNG or JPEG")]
    text = raw.strip()
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None, [(spec.key, f"{spec.label} is not valid base64")]
    if len(data) > _IMAGE_MAX_BYTES:
        return None, [(spec.key, f"{spec.label} is larger than {_IMAGE_MAX_BYTES // 1024} KiB")]
    if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")):
        return None, [(spec.key, f"{spec.label} must be a PNG or JPEG image")]
    try:
        from PIL import Image  # only rendering imports PIL; imported lazily, rarely needed

        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception:  # PIL raises many types for damaged files; all mean "unusable"
        return None, [(spec.key, f"{spec.label} is a damaged image")]
    return base64.b64encode(data).decode("ascii"), []


# --- loading and checking -----------------------------------------------------------------------
class _Problems:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, problem: str) -> None:
        self.items.append(f"{self.path}: {problem}")


def _check_props(
    where: str, props: Mapping[str, Any], schema: _Schema, problems: _Problems
) -> None:
    for name, value in props.items():
        if name in ("kind", "page"):
            continue
        if name not in schema:
            problems.add(f"{where}: unknown property {name!r}")
            continue
        types, _ = schema[name]
        if isinstance(value, bool) and bool not in types:
            problems.add(f"{where}: property {name!r} has the wrong type")
        elif not isinstance(value, types):
            problems.add(f"{where}: property {name!r} has the wrong type")
    for name, (_, required) in schema.items():
        if required and name not in props:
            problems.add(f"{where}: missing property {name!r}")
    for name in ("font", "label_font", "header_font"):
        if name in props and props[name] not in FONT_KEYS:
            problems.add(
                f"{where}: unknown font {props[name]!r} (known: {', '.join(sorted(FONT_KEYS))})"
            )
    for name in ("color", "fill"):
        value = props.get(name)
        if isinstance(value, str) and not _COLOR_RE.match(value):
            problems.add(f"{where}: {name} must look like #RRGGBB")
    if "align" in props and props["align"] not in _ALIGNS:
        problems.add(f"{where}: align must be left, center or right")
    if "format" in props and props["format"] not in _FORMATS:
        problems.add(f"{where}: format must be one of {sorted(_FORMATS)}")
    page = props.get("page", "first")
    if not isinstance(page, str) or not (page in ("first", "last", "every") or page.isdigit()):
        problems.add(f"{where}: page must be first, last, every or a page number")


def _parse_field(
    where: str, raw: object, problems: _Problems, *, in_table: bool = False
) -> FieldSpec | None:
    if not isinstance(raw, dict):
        problems.add(f"{where}: a field must be an object")
        return None
    allowed = {
        "key",
        "label",
        "type",
        "required",
        "max_length",
        "pattern",
        "enum",
        "columns",
        "max_rows",
        "minimum",
        "maximum",
    }
    for name in raw:
        if name not in allowed:
            problems.add(f"{where}: unknown property {name!r}")
    key = raw.get("key")
    if not isinstance(key, str) or not _KEY_RE.match(key):
        problems.add(f"{where}: key must be lower_snake_case ASCII, got {key!r}")
        return None
    where = f"{where} ({key})"
    label = raw.get("label")
    if not isinstance(label, str) or not label:
        problems.add(f"{where}: label (Chinese) is required")
        label = key
    type_name = raw.get("type")
    try:
        ftype = FieldType(str(type_name))
    except ValueError:
        problems.add(
            f"{where}: unknown field type {type_name!r} (known: {', '.join(t.value for t in FieldType)})"
        )
        return None
    if in_table and ftype in (FieldType.TABLE, FieldType.IMAGE, FieldType.MULTILINE):
        problems.add(f"{where}: a table column cannot be of type {ftype.value}")
    pattern = raw.get("pattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            problems.add(f"{where}: pattern must be a string")
            pattern = None
        else:
            try:
                re.compile(pattern)
            except re.error as exc:
                problems.add(f"{where}: pattern does not compile: {exc}")
                pattern = None
    enum = raw.get("enum", [])
    if not isinstance(enum, list) or not all(isinstance(v, str) and v for v in enum):
        problems.add(f"{where}: enum must be a list of strings")
        enum = []
    if ftype is FieldType.ENUM and not enum:
        problems.add(f"{where}: an enum field needs enum values")
    max_length = raw.get("max_length")
    if max_length is not None and (
        not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 1
    ):
        problems.add(f"{where}: max_length must be a positive integer")
        max_length = None
    columns: list[FieldSpec] = []
    if ftype is FieldType.TABLE:
        raw_columns = raw.get("columns")
        if not isinstance(raw_columns, list) or not raw_columns:
            problems.add(f"{where}: a table field needs columns")
        else:
            for index, col in enumerate(raw_columns):
                parsed = _parse_field(f"{where} column {index}", col, problems, in_table=True)
                if parsed is not None:
                    columns.append(parsed)
    max_rows = raw.get("max_rows")
    required = raw.get("required", True)
    if not isinstance(required, bool):
        problems.add(f"{where}: required must be true or false")
        required = True
    return FieldSpec(
        key=key,
        label=label,
        type=ftype,
        required=required,
        max_length=max_length,
        pattern=pattern,
        enum=tuple(enum),
        columns=tuple(columns),
        max_rows=max_rows if isinstance(max_rows, int) else None,
        minimum=raw.get("minimum") if isinstance(raw.get("minimum"), (int, float)) else None,
        maximum=raw.get("maximum") if isinstance(raw.get("maximum"), (int, float)) else None,
    )


def _parse_page(raw: object, problems: _Problems) -> PageSpec:
    if not isinstance(raw, dict):
        problems.add('page must be an object like {"size": "A4", "orientation": "portrait"}')
        return PageSpec(*_PAGE_SIZES["A4"])
    size = raw.get("size", "A4")
    if (
        isinstance(size, list)
        and len(size) == 2
        and all(isinstance(v, (int, float)) and v > 0 for v in size)
    ):
        width, height = float(size[0]), float(size[1])
    elif isinstance(size, str) and size in _PAGE_SIZES:
        width, height = _PAGE_SIZES[size]
    else:
        problems.add(
            f"page size must be one of {', '.join(_PAGE_SIZES)} or [width_mm, height_mm], got {size!r}"
        )
        width, height = _PAGE_SIZES["A4"]
    orientation = raw.get("orientation", "portrait")
    if orientation not in ("portrait", "landscape"):
        problems.add(f"page orientation must be portrait or landscape, got {orientation!r}")
    elif (orientation == "landscape") != (width > height):
        width, height = height, width
    return PageSpec(width, height)


def _parse_template(directory: Path, file_name: str = "template.json") -> LicenceTemplate:
    """Parse and check one template folder; raise ConfigurationError listing every problem."""
    path = directory / file_name
    problems = _Problems(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: template.json is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not valid UTF-8 JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path}: the template must be a JSON object")

    slug = directory.name
    if not _SLUG_RE.match(slug):
        problems.add(f"folder name {slug!r} is not a slug (lower-case ASCII words joined by '-')")
    known_top = {
        "format",
        "name",
        "type_code",
        "description",
        "seal_purpose",
        "page",
        "defaults",
        "fields",
        "layout",
    }
    for prop in raw:
        if prop not in known_top:
            problems.add(f"unknown top-level property {prop!r}")
    if raw.get("format") != 1:
        problems.add("format must be 1")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        problems.add("name (the Chinese licence name) is required")
        name = slug
    type_code = raw.get("type_code")
    # GB/T 36904-2018 §5.2: 证照类型代码 = defining authority's USCC (18) + 3-digit sequence.
    if not (
        isinstance(type_code, str)
        and len(type_code) == 21
        and is_valid_uscc(type_code[:18])
        and type_code[18:].isdigit()
    ):
        problems.add(
            f"type_code must be a valid USCC followed by 3 digits (GB/T 36904), got {type_code!r}"
        )
        type_code = str(type_code)
    seal_purpose = raw.get("seal_purpose")
    if seal_purpose is not None and not (isinstance(seal_purpose, str) and 0 < len(seal_purpose.strip()) <= 100):
        problems.add("seal_purpose must be a seal purpose such as 行政许可专用章 (1 to 100 characters)")
        seal_purpose = None
    page = _parse_page(raw.get("page", {}), problems)
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.add("defaults must be an object")
        defaults = {}
    _check_props("defaults", defaults, _TEXT_STYLE, problems)

    fields: list[FieldSpec] = []
    raw_fields = raw.get("fields")
    if not isinstance(raw_fields, list):
        problems.add("fields must be a list")
        raw_fields = []
    for index, raw_field in enumerate(raw_fields):
        parsed = _parse_field(f"fields[{index}]", raw_field, problems)
        if parsed is not None:
            fields.append(parsed)
    keys = [f.key for f in fields]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        problems.add(f"field {key!r} is declared more than once")
    types = {f.key: f.type for f in fields}

    layout = raw.get("layout")
    if not isinstance(layout, dict):
        problems.add("layout must be an object")
        layout = {}
    for prop in layout:
        if prop not in ("items", *_SINGLETON_SCHEMAS):
            problems.add(f"layout: unknown property {prop!r}")
    items: list[LayoutItem] = []
    raw_items = layout.get("items")
    if not isinstance(raw_items, list):
        problems.add("layout.items must be a list")
        raw_items = []
    for index, raw_item in enumerate(raw_items):
        where = f"layout.items[{index}]"
        if not isinstance(raw_item, dict):
            problems.add(f"{where}: must be an object")
            continue
        kind = raw_item.get("kind")
        schema = _ITEM_SCHEMAS.get(str(kind))
        if schema is None:
            problems.add(f"{where}: unknown kind {kind!r} (known: {', '.join(_ITEM_SCHEMAS)})")
            continue
        _check_props(f"{where} ({kind})", raw_item, schema, problems)
        source = raw_item.get("field")
        if isinstance(source, str):
            if source.startswith("$"):
                if source not in BUILTIN_SOURCES:
                    problems.add(
                        f"{where}: unknown built-in value {source!r} (known: {', '.join(sorted(BUILTIN_SOURCES))})"
                    )
                elif (kind == "mongolian") != (source == DEPARTMENT_NAME_MN):
                    problems.add(
                        f"{where}: built-in value {source!r} can only be drawn by a "
                        f"{'mongolian' if source == DEPARTMENT_NAME_MN else 'field'} item"
                    )
            elif source not in types:
                problems.add(f"{where}: layout refers to unknown field {source!r}")
            else:
                allowed = _FIELD_KINDS_FOR_TYPE.get(types[source], _DEFAULT_FIELD_KINDS)
                if kind not in allowed:
                    problems.add(
                        f"{where}: a {types[source].value} field cannot be drawn by a {kind!r} item"
                    )
        if kind == "table" and isinstance(source, str) and source in types:
            spec = next(f for f in fields if f.key == source)
            col_keys = {c.key for c in spec.columns}
            for cindex, col in enumerate(raw_item.get("columns") or []):
                if not (
                    isinstance(col, dict)
                    and col.get("key") in col_keys
                    and isinstance(col.get("width"), (int, float))
                ):
                    problems.add(
                        f"{where}: columns[{cindex}] must be {{key: <a column of {source}>, width: mm}}"
                    )
        for mongolian_problem in check_mongolian_item(where, raw_item):
            problems.add(mongolian_problem)
        label = raw_item.get("label")
        for text in (label, raw_item.get("text") if kind != "mongolian" else None):
            if isinstance(text, str):
                problem = _glyph_problem(
                    text, {raw_item.get("label_font") or raw_item.get("font") or "song"}
                )
                if problem:
                    problems.add(f"{where}: static text {problem}")
        _check_bounds(where, raw_item, page, problems)
        items.append(
            LayoutItem(
                kind=str(kind), props=dict(raw_item), page=str(raw_item.get("page", "first"))
            )
        )
    drawn = {item.source for item in items}
    for f in fields:
        if f.key not in drawn:
            problems.add(f"field {f.key!r} is declared but never placed in the layout")
    flows = [item for item in items if item.kind == "flow"]
    if len(flows) > 1:
        problems.add("at most one flow item per template (it decides the page count)")

    singletons: dict[str, LayoutItem | None] = {}
    for single, schema in _SINGLETON_SCHEMAS.items():
        raw_single = layout.get(single)
        if raw_single is None:
            if single in _REQUIRED_SINGLETONS:
                problems.add(f"layout.{single} is required")
            singletons[single] = None
            continue
        if not isinstance(raw_single, dict):
            problems.add(f"layout.{single} must be an object")
            singletons[single] = None
            continue
        _check_props(f"layout.{single}", raw_single, schema, problems)
        _check_bounds(f"layout.{single}", raw_single, page, problems)
        singletons[single] = LayoutItem(
            kind=single, props=dict(raw_single), page=str(raw_single.get("page", "first"))
        )

    sample_path = directory / "sample.json"
    if not sample_path.is_file():
        problems.add(f"sample.json is missing (expected at {sample_path})")

    if problems.items:
        raise ConfigurationError(
            f"template {slug!r} is unusable: " + "; ".join(problems.items),
            details=[{"file": str(path), "problem": p.split(": ", 1)[1]} for p in problems.items],
        )
    qr, seal, identifier = singletons["qr"], singletons["seal"], singletons["identifier"]
    assert qr is not None and seal is not None and identifier is not None  # checked above
    template = LicenceTemplate(
        slug=slug,
        name=str(name),
        type_code=str(type_code),
        page=page,
        fields=tuple(fields),
        items=tuple(items),
        qr=qr,
        seal=seal,
        identifier=identifier,
        print_mark=singletons["print_mark"],
        sample_path=sample_path,
        directory=directory,
        description=str(raw.get("description", "")),
        defaults=dict(defaults),
        seal_purpose=seal_purpose.strip() if isinstance(seal_purpose, str) else None,
    )
    _check_sample(template)
    return template


def _check_bounds(
    where: str, props: Mapping[str, Any], page: PageSpec, problems: _Problems
) -> None:
    def inside(x: object, y: object) -> bool:
        return (
            isinstance(x, (int, float))
            and isinstance(y, (int, float))
            and -0.01 <= x <= page.width_mm + 0.01
            and -0.01 <= y <= page.height_mm + 0.01
        )

    pairs = [("x", "y"), ("x1", "y1"), ("x2", "y2"), ("cx", "cy")]
    for px, py in pairs:
        if px in props and py in props and not inside(props[px], props[py]):
            problems.add(
                f"{where}: ({px}, {py}) lies outside the {page.width_mm:g}×{page.height_mm:g} mm page"
            )
    if (
        "x" in props
        and "width" in props
        and isinstance(props["x"], (int, float))
        and isinstance(props["width"], (int, float))
    ):
        right = (
            props["x"] + props.get("label_width", 0) + props["width"]
            if "label_width" in props
            else props["x"] + props["width"]
        )
        if right > page.width_mm + 0.01:
            problems.add(f"{where}: the box ends at x={right:g} mm, outside the page")


def _check_sample(template: LicenceTemplate) -> None:
    """The shipped sample must be accepted: it is the template's executable example and test."""
    path = template.sample_path
    try:
        sample = template.load_sample()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: not valid UTF-8 JSON: {exc}") from exc
    problems: list[str] = []
    if not isinstance(sample, dict):
        raise ConfigurationError(f"{path}: the sample must be a JSON object")
    if sample.get("template") != template.slug:
        problems.append(f"template must be {template.slug!r}")
    holder = sample.get("holder")
    if not isinstance(holder, dict) or not isinstance(holder.get("name"), str):
        problems.append("holder {name, id_type, id} is required")
    else:
        try:
            validate_holder_id(HolderIdType(str(holder.get("id_type"))), str(holder.get("id")))
        except (ValueError, BadRequestError) as exc:
            problems.append(f"holder id is invalid: {exc}")
    for key in ("valid_from", "valid_until"):
        try:
            date.fromisoformat(str(sample.get(key)))
        except ValueError:
            problems.append(f"{key} must be a date YYYY-MM-DD")
    fields = sample.get("fields")
    if not isinstance(fields, dict):
        problems.append("fields must be an object")
    else:
        try:
            template.validate_fields(fields)
        except ValidationFailedError as exc:
            problems.extend(f"fields: {d['field']}: {d['problem']}" for d in exc.details)
    if problems:
        raise ConfigurationError(
            f"{path}: sample is not accepted by its template: " + "; ".join(problems),
            details=[{"file": str(path), "problem": p} for p in problems],
        )


def _with_bilingual_layout(template: LicenceTemplate) -> LicenceTemplate:
    """Attach the folder's ``bilingual.json``, which must declare exactly the same licence."""
    if not (template.directory / BILINGUAL_FILE).is_file():
        return template
    variant = _parse_template(template.directory, BILINGUAL_FILE)
    differences = [
        what
        for what, same in (
            ("name", variant.name == template.name),
            ("type_code", variant.type_code == template.type_code),
            ("fields", variant.fields == template.fields),
        )
        if not same
    ]
    if differences:
        path = template.directory / BILINGUAL_FILE
        raise ConfigurationError(
            f"{path}: a bilingual layout declares the same licence as template.json; "
            f"it differs in {', '.join(differences)}",
            details=[{"file": str(path), "problem": f"differs from template.json in {d}"} for d in differences],
        )
    return dataclasses.replace(template, bilingual=variant)


class TemplateRegistry:
    """Every template of a directory, loaded and checked once at start-up."""

    def __init__(self, templates: Mapping[str, LicenceTemplate]) -> None:
        self._templates = dict(sorted(templates.items()))

    @classmethod
    def load(cls, directory: Path) -> TemplateRegistry:
        """Load every ``<slug>/template.json`` under ``directory``.

        Raises:
            ConfigurationError: naming each unusable file and all of its problems.
        """
        if not directory.is_dir():
            raise ConfigurationError(f"template directory {directory} does not exist")
        register_fonts()  # glyph checks of labels and samples need the fonts
        templates: dict[str, LicenceTemplate] = {}
        messages: list[str] = []
        details: list[Any] = []
        for sub in sorted(
            p for p in directory.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))
        ):
            try:
                template = _with_bilingual_layout(_parse_template(sub))
                templates[sub.name] = dataclasses.replace(template, catalogue=load_catalogue_entry(sub))
            except ConfigurationError as exc:
                messages.append(exc.message)
                details.extend(
                    exc.details or [{"file": str(sub / "template.json"), "problem": exc.message}]
                )
        if messages:
            raise ConfigurationError(
                "unusable licence templates: " + " | ".join(messages), details=details
            )
        if not templates:
            raise ConfigurationError(f"no licence templates found in {directory}")
        return cls(templates)

    def get(self, slug: str) -> LicenceTemplate:
        """Raises: UnknownTemplateError naming the known slugs."""
        try:
            return self._templates[slug]
        except KeyError:
            raise UnknownTemplateError(
                f"unknown licence template {slug!r}",
                details=[
                    {
                        "field": "template",
                        "problem": f"known templates: {', '.join(self._templates)}",
                    }
                ],
            ) from None

    def all(self) -> list[LicenceTemplate]:
        return list(self._templates.values())

    def __contains__(self, slug: object) -> bool:
        return slug in self._templates

    def __len__(self) -> int:
        return len(self._templates)
