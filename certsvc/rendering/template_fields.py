"""A template's field schema: the fields a request fills, their values checked and normalised.

A licence's canonical fields are what its QR payload digest and GB/T 36903 metadata are made
from, so one value must always normalise to one text: ``"23.90"`` stays ``"23.90"``, dates are
ISO, multi-line text uses ``\n``. The same schema is published as JSON Schema for integrators
(``fields_json_schema``); the checks that JSON Schema cannot say (glyphs the licence font can
print, real calendar dates, image contents) are made here.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from certsvc.rendering.fonts import FALLBACK_FONT, fallback_available, missing_glyphs

__all__ = [
    "IMAGE_MAX_BYTES",
    "FieldSpec",
    "FieldType",
    "fields_json_schema",
    "glyph_problem",
    "is_empty",
    "normalise_value",
]

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_NUMBER_RE = re.compile(r"^-?\d{1,15}(\.\d{1,6})?$")
IMAGE_MAX_BYTES = 2 * 1024 * 1024


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


def is_empty(raw: object) -> bool:
    """Absent as far as ``required`` is concerned: null, blank text or an empty table."""
    return (
        raw is None
        or (isinstance(raw, str) and not raw.strip())
        or (isinstance(raw, list) and not raw)
    )


def glyph_problem(text: str, fonts: Iterable[str]) -> str | None:
    """Why ``text`` cannot be printed in every one of ``fonts``; ``None`` when it can."""
    missing = missing_glyphs(text, fonts)
    if not missing:
        return None
    shown = "、".join(f"“{ch}”(U+{ord(ch):04X})" for ch in missing[:5])
    hint = "" if fallback_available() else f" (the operator can install {FALLBACK_FONT.package})"
    return (
        f"contains character(s) the licence font cannot print: {shown}; "
        f"use a common equivalent character or contact the operator{hint}"
    )


def normalise_value(
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
    glyphs = glyph_problem(text, fonts)
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
            if is_empty(cell):
                if column.required:
                    problems.append((path, f"{column.label} is missing in row {index + 1}"))
                out[column.key] = ""
                continue
            value, cell_problems = normalise_value(column, cell, fonts)
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
    if len(data) > IMAGE_MAX_BYTES:
        return None, [(spec.key, f"{spec.label} is larger than {IMAGE_MAX_BYTES // 1024} KiB")]
    if not (data.startswith(b"\x89PNG\r\n\x1a\n") or data.startswith(b"\xff\xd8\xff")):
        return None, [(spec.key, f"{spec.label} must be a PNG or JPEG image")]
    try:
        from PIL import Image  # only rendering imports PIL; imported lazily, rarely needed

        with Image.open(io.BytesIO(data)) as image:
            image.verify()
    except Exception:  # PIL raises many types for damaged files; all mean "unusable"
        return None, [(spec.key, f"{spec.label} is a damaged image")]
    return base64.b64encode(data).decode("ascii"), []


# --- the field schema as JSON Schema ----------------------------------------------------------
def fields_json_schema(fields: Sequence[FieldSpec], *, title: str) -> dict[str, Any]:
    """The ``fields`` object of an issue request for one template, as JSON Schema 2020-12.

    A request that fails this schema is refused; one that passes may still be refused for what
    a schema cannot say: characters the licence font lacks, a date that is not on the calendar,
    a value too long for its box on the page, a damaged image. Text is trimmed before
    ``maxLength`` and ``pattern`` are checked.
    """
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "properties": {spec.key: _value_schema(spec) for spec in fields},
        "required": [spec.key for spec in fields if spec.required],
        "additionalProperties": False,
    }


def _value_schema(spec: FieldSpec) -> dict[str, Any]:
    schema: dict[str, Any] = {"title": spec.label}
    if spec.type is FieldType.NUMBER:
        bounds = {
            name: value
            for name, value in (("minimum", spec.minimum), ("maximum", spec.maximum))
            if value is not None
        }
        # A decimal is sent as a number or as its exact text ("23.90"): the text keeps the
        # precision the applicant wrote, which a JSON number may lose.
        schema["anyOf"] = [
            {"type": "number", **bounds},
            {"type": "string", "pattern": _NUMBER_RE.pattern},
        ]
        return schema
    if spec.type is FieldType.TABLE:
        schema.update(
            type="array",
            items={
                "type": "object",
                "properties": {column.key: _value_schema(column) for column in spec.columns},
                "required": [column.key for column in spec.columns if column.required],
                "additionalProperties": False,
            },
        )
        if spec.max_rows is not None:
            schema["maxItems"] = spec.max_rows
        return schema
    schema["type"] = "string"
    if spec.type is FieldType.DATE:
        schema["format"] = "date"
    elif spec.type is FieldType.IMAGE:
        schema.update(
            contentEncoding="base64",
            contentMediaType="image/png",
            description=f"a PNG or JPEG image, base64, at most {IMAGE_MAX_BYTES // 1024} KiB",
        )
    elif spec.type is FieldType.ENUM:
        schema["enum"] = list(spec.enum)
    else:
        if spec.max_length is not None:
            schema["maxLength"] = spec.max_length
        # Templates' patterns must match the whole value (re.fullmatch); JSON Schema's search.
        if spec.pattern is not None:
            schema["pattern"] = f"^(?:{spec.pattern})$"
        elif spec.type is FieldType.TEXT:
            schema["pattern"] = r"^[^\r\n]*$"
    return schema
