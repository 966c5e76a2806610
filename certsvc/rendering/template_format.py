"""The template file format (``template.json``, ``bilingual.json``) as typed models.

Each part of a template — the header, the page, the text defaults, one field, and (in
``template_layout_format.py``) one layout item or mark — is validated by its model, and
pydantic's errors become the sentences a template author reads ("layout.items[3] (field):
missing property 'width'"). Parts are validated one by one so that one broken part does not
hide the problems of the others: a template is refused with every problem listed.

What needs the whole template (a layout item names a declared field, everything lies on the
page, the sample is accepted) is checked by ``templates.py``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from certsvc.domain.identifiers import is_valid_uscc
from certsvc.rendering.fonts import FONT_KEYS
from certsvc.rendering.template_fields import FieldType

__all__ = [
    "PAGE_SIZES",
    "Align",
    "Bool",
    "Color",
    "ColumnDocument",
    "DateFormat",
    "FieldDocument",
    "Font",
    "FormatModel",
    "Int",
    "Num",
    "PageDocument",
    "PageRef",
    "Str",
    "TemplateHeader",
    "TextStyle",
    "parse_field",
    "parse_part",
    "sentences_of",
]

# Page sizes in mm (portrait). CARD is ISO/IEC 7810 ID-1 scaled up ×1.5 so that a 4.8 mm
# minimum-legible Chinese size still fits two columns; it prints on A6 paper.
PAGE_SIZES: Mapping[str, tuple[float, float]] = {
    "A3": (297.0, 420.0),
    "A4": (210.0, 297.0),
    "A5": (148.0, 210.0),
    "A6": (105.0, 148.0),
    "CARD": (128.4, 81.0),
}


# --- value types: each refusal is a sentence, not pydantic's wording ---------------------------
def _rule(message: str) -> PydanticCustomError:
    """A refusal whose message is the whole sentence after "where: "."""
    return PydanticCustomError("template_rule", message.replace("{", "{{").replace("}", "}}"))


def _prop_rule(message: str) -> PydanticCustomError:
    """A refusal read after the property's name ("color must look like #RRGGBB")."""
    return PydanticCustomError("template_prop_rule", message)


def _number(value: object) -> object:
    # JSON true is not 1 here: a template that says "size": true is a mistake to name.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PydanticCustomError("wrong_type", "has the wrong type")
    return value


def _strict(kind: type) -> Callable[[object], object]:
    def check(value: object) -> object:
        if isinstance(value, bool) is not (kind is bool) or not isinstance(value, kind):
            raise PydanticCustomError("wrong_type", "has the wrong type")
        return value

    return check


def _font(value: object) -> object:
    _strict(str)(value)
    if value not in FONT_KEYS:
        raise _rule(f"unknown font {value!r} (known: {', '.join(sorted(FONT_KEYS))})")
    return value


def _color(value: object) -> object:
    _strict(str)(value)
    if not re.fullmatch(r"#[0-9A-Fa-f]{6}", str(value)):
        raise _prop_rule("must look like #RRGGBB")
    return value


def _align(value: object) -> object:
    if value not in ("left", "center", "right"):
        raise _prop_rule("must be left, center or right")
    return value


def _date_format(value: object) -> object:
    if value not in ("date_cn", "iso", "plain"):
        raise _prop_rule("must be one of ['date_cn', 'iso', 'plain']")
    return value


def _page_ref(value: object) -> object:
    if not (isinstance(value, str) and (value in ("first", "last", "every") or value.isdigit())):
        raise _prop_rule("must be first, last, every or a page number")
    return value


Num = Annotated[int | float, BeforeValidator(_number)]
Int = Annotated[int, BeforeValidator(_strict(int))]
Bool = Annotated[bool, BeforeValidator(_strict(bool))]
Str = Annotated[str, BeforeValidator(_strict(str))]
Font = Annotated[str, BeforeValidator(_font)]
Color = Annotated[str, BeforeValidator(_color)]
Align = Annotated[str, BeforeValidator(_align)]
DateFormat = Annotated[str, BeforeValidator(_date_format)]
PageRef = Annotated[str, BeforeValidator(_page_ref)]


class FormatModel(BaseModel):
    """A part of a template file: every property it may have is declared, any other is refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class TextStyle(FormatModel):
    """Type settings: the template's ``defaults`` and every item that draws Chinese text."""

    font: Font | None = None
    size: Num | None = None
    color: Color | None = None
    align: Align | None = None


# --- the page and the header --------------------------------------------------------------------
def _page_size(value: object) -> object:
    if isinstance(value, str) and value in PAGE_SIZES:
        return PAGE_SIZES[value]
    if isinstance(value, list) and len(value) == 2 and all(_is_positive(v) for v in value):
        return (float(value[0]), float(value[1]))
    raise _rule(
        f"page size must be one of {', '.join(PAGE_SIZES)} or [width_mm, height_mm], got {value!r}"
    )


def _is_positive(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _orientation(value: object) -> object:
    if value not in ("portrait", "landscape"):
        raise _rule(f"page orientation must be portrait or landscape, got {value!r}")
    return value


class PageDocument(FormatModel):
    """``{"size": "A4" | [w, h] (mm), "orientation": "portrait" | "landscape"}``."""

    size: Annotated[tuple[float, float], BeforeValidator(_page_size)] = PAGE_SIZES["A4"]
    orientation: Annotated[str, BeforeValidator(_orientation)] = "portrait"

    @property
    def width_height_mm(self) -> tuple[float, float]:
        width, height = self.size
        if (self.orientation == "landscape") != (width > height):
            width, height = height, width
        return width, height


def _format_version(value: object) -> object:
    if value != 1 or isinstance(value, bool):
        raise _rule("format must be 1")
    return value


def _licence_name(value: object) -> object:
    if not isinstance(value, str) or not value:
        raise _rule("name (the Chinese licence name) is required")
    return value


def _type_code(value: object) -> object:
    # GB/T 36904-2018 §5.2: 证照类型代码 = defining authority's USCC (18) + 3-digit sequence.
    if not (
        isinstance(value, str)
        and len(value) == 21
        and is_valid_uscc(value[:18])
        and value[18:].isdigit()
    ):
        raise _rule(
            f"type_code must be a valid USCC followed by 3 digits (GB/T 36904), got {value!r}"
        )
    return value


def _seal_purpose(value: object) -> object:
    if value is not None and not (isinstance(value, str) and 0 < len(value.strip()) <= 100):
        raise _rule(
            "seal_purpose must be a seal purpose such as 行政许可专用章 (1 to 100 characters)"
        )
    return value.strip() if isinstance(value, str) else None


class TemplateHeader(FormatModel):
    """The top level of a template file; its parts are parsed one by one after it."""

    format: Annotated[int, BeforeValidator(_format_version)] = Field(
        default=None, validate_default=True
    )
    name: Annotated[str, BeforeValidator(_licence_name)] = Field(
        default=None, validate_default=True
    )
    type_code: Annotated[str, BeforeValidator(_type_code)] = Field(
        default=None, validate_default=True
    )
    description: Str = ""
    seal_purpose: Annotated[str | None, BeforeValidator(_seal_purpose)] = None
    page: Any = None
    defaults: Any = None
    fields: Any = None
    layout: Any = None


# --- a field of the licence ---------------------------------------------------------------------
def _field_key(value: object) -> object:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", value):
        raise _rule(f"key must be lower_snake_case ASCII, got {value!r}")
    return value


def _field_label(value: object) -> object:
    if not isinstance(value, str) or not value:
        raise _rule("label (Chinese) is required")
    return value


def _field_type(value: object) -> object:
    try:
        return FieldType(str(value))
    except ValueError:
        raise _rule(
            f"unknown field type {value!r} (known: {', '.join(t.value for t in FieldType)})"
        ) from None


def _column_type(value: object) -> object:
    field_type = _field_type(value)
    if field_type in (FieldType.TABLE, FieldType.IMAGE, FieldType.MULTILINE):
        raise _rule(f"a table column cannot be of type {value}")
    return field_type


def _required(value: object) -> object:
    if not isinstance(value, bool):
        raise _rule("required must be true or false")
    return value


def _positive_int(name: str) -> Callable[[object], object]:
    def check(value: object) -> object:
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1
        ):
            raise _rule(f"{name} must be a positive integer")
        return value

    return check


def _pattern(value: object) -> object:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _rule("pattern must be a string")
    try:
        re.compile(value)
    except re.error as exc:
        raise _rule(f"pattern does not compile: {exc}") from None
    return value


def _enum_values(value: object) -> object:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _rule("enum must be a list of strings")
    return tuple(value)


def _bound(value: object) -> object:
    if value is not None:
        _number(value)
    return value


class _FieldBase(FormatModel):
    key: Annotated[str, BeforeValidator(_field_key)] = Field(default=None, validate_default=True)
    label: Annotated[str, BeforeValidator(_field_label)] = Field(
        default=None, validate_default=True
    )
    required: Annotated[bool, BeforeValidator(_required)] = True
    max_length: Annotated[int | None, BeforeValidator(_positive_int("max_length"))] = None
    pattern: Annotated[str | None, BeforeValidator(_pattern)] = None
    enum: Annotated[tuple[str, ...], BeforeValidator(_enum_values)] = ()
    minimum: Annotated[float | None, BeforeValidator(_bound)] = None
    maximum: Annotated[float | None, BeforeValidator(_bound)] = None
    max_rows: Annotated[int | None, BeforeValidator(_positive_int("max_rows"))] = None


class ColumnDocument(_FieldBase):
    """A column of a table field: a plain value (text, number, date or enum)."""

    type: Annotated[FieldType, BeforeValidator(_column_type)] = Field(
        default=None, validate_default=True
    )


class FieldDocument(_FieldBase):
    """One entry of ``fields``: what a request must fill, and the rules its value follows."""

    type: Annotated[FieldType, BeforeValidator(_field_type)] = Field(
        default=None, validate_default=True
    )
    columns: tuple[ColumnDocument, ...] = ()

    @model_validator(mode="after")
    def _complete(self) -> FieldDocument:
        if self.type is FieldType.ENUM and not self.enum:
            raise _rule("an enum field needs enum values")
        if self.type is FieldType.TABLE and not self.columns:
            raise _rule("a table field needs columns")
        return self


# --- parsing a part into a model or into sentences ----------------------------------------------
Model = TypeVar("Model", bound=BaseModel)


def parse_part(model: type[Model], raw: object, where: str) -> tuple[Model | None, list[str]]:
    """``raw`` as ``model``, or ``None`` and a sentence per problem, each starting with ``where``."""
    if not isinstance(raw, dict):
        return None, [f"{where}: must be an object"]
    try:
        return model.model_validate(raw), []
    except ValidationError as exc:
        return None, sentences_of(exc, where)


def parse_field(raw: object, where: str) -> tuple[FieldDocument | None, list[str]]:
    """One entry of ``fields``; problems are placed at the field (and column) they concern."""
    if not isinstance(raw, dict):
        return None, [f"{where}: a field must be an object"]
    try:
        return FieldDocument.model_validate(raw), []
    except ValidationError as exc:
        return None, [_field_sentence(error, raw, where) for error in exc.errors()]


def _field_sentence(error: Any, raw: Mapping[str, Any], where: str) -> str:
    loc = list(error["loc"])
    place = where if loc[:1] == ["key"] else _named(where, raw)
    if loc[:1] == ["columns"] and len(loc) >= 2 and isinstance(loc[1], int):
        columns = raw.get("columns")
        column = columns[loc[1]] if isinstance(columns, list) else None
        place = f"{place} column {loc[1]}"
        loc = loc[2:]
        if isinstance(column, dict) and loc[:1] != ["key"]:
            place = _named(place, column)
        elif not isinstance(column, dict):
            return f"{place}: a field must be an object"
    name = ".".join(str(part) for part in loc)
    if error["type"] == "extra_forbidden":
        return f"{place}: unknown property {name!r}"
    if error["type"] == "template_rule":
        return f"{place}: {error['msg']}"
    return f"{place}: property {name!r} has the wrong type"


def _named(where: str, raw: Mapping[str, Any]) -> str:
    key = raw.get("key")
    valid = isinstance(key, str) and re.fullmatch(r"[a-z][a-z0-9_]{0,39}", key)
    return f"{where} ({key})" if valid else where


def sentences_of(exc: ValidationError, where: str, *, tagged: bool = False) -> list[str]:
    """pydantic's errors as sentences starting with ``where``; ``tagged``: the first location
    part is a union's tag (a layout item's kind), already in ``where``."""
    sentences: list[str] = []
    for error in exc.errors():
        loc = list(error["loc"])[1 if tagged else 0 :]
        name = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc).lstrip(
            "."
        )
        match error["type"]:
            case "extra_forbidden":
                sentence = f"{where}: unknown property {name!r}"
            case "missing":
                sentence = f"{where}: missing property {name!r}"
            case "template_rule":
                sentence = f"{where}: {error['msg']}"
            case "template_prop_rule":
                sentence = f"{where}: {name} {error['msg']}"
            case _:
                sentence = f"{where}: property {name!r} has the wrong type"
        if sentence not in sentences:
            sentences.append(sentence)
    return sentences
