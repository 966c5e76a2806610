"""A loaded licence template: its page, field schema and layout, and how values fit the layout.

Coordinates in a layout are millimetres from the *top-left* corner of the page (the way a
designer measures a paper form); the renderer converts to PDF points. Templates are checked
when they load (``templates.py``), so everything here may trust what it is given.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from certsvc.domain.licence import LicenceKind
from certsvc.errors import ValidationFailedError
from certsvc.rendering.bilingual_layout import DEPARTMENT_NAME_MN
from certsvc.rendering.catalogue_entry import CatalogueEntry
from certsvc.rendering.template_fields import (
    FieldSpec,
    FieldType,
    fields_json_schema,
    is_empty,
    normalise_value,
)
from certsvc.rendering.text import wrap_text

__all__ = [
    "BUILTIN_SOURCES",
    "MM",
    "LayoutItem",
    "LicenceTemplate",
    "PageSpec",
    "format_date_cn",
    "item_max_lines",
    "table_cell_lines",
    "table_columns",
    "table_fit_problem",
]

MM = 72.0 / 25.4  # PDF points per millimetre


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


@dataclass(frozen=True, slots=True)
class LayoutItem:
    """One thing drawn on the page; ``props`` passed its kind's model (template_format.py) at load."""

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
        return LicenceKind(
            slug=self.slug, name=self.name, type_code=self.type_code, number_field=self.number_field
        )

    def fields_json_schema(self) -> dict[str, Any]:
        """The ``fields`` of an issue request for this licence, as JSON Schema 2020-12."""
        return fields_json_schema(self.fields, title=f"{self.name} ({self.slug})")

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
            if is_empty(raw):
                if spec.required:
                    problems.append(
                        {"field": spec.key, "problem": f"required field {spec.label} is missing"}
                    )
                continue
            value, field_problems = normalise_value(spec, raw, self.fonts_for(spec.key))
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
