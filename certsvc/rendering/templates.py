"""Licence templates as data: ``templates/<slug>/template.json`` + ``sample.json``, loaded and checked.

A template declares the licence type (name, GB/T 36904 type code), its field schema and its
layout. Templates are data, not code, so a province can add a licence type without a release;
the price is that everything a template says must be checked here, at start-up, with every
problem listed and the file named — never discovered while a clerk is issuing.

The file format is typed in ``template_format.py`` and ``template_layout_format.py`` (one
model per part); this module parses a
folder part by part, checks what only the whole template can show (layout items name declared
fields of a drawable type, every mark lies on the page, the sample is accepted) and hands out
``LicenceTemplate`` values (``template_model.py``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from certsvc.domain.identifiers import HolderIdType, validate_holder_id
from certsvc.errors import (
    BadRequestError,
    ConfigurationError,
    UnknownTemplateError,
    ValidationFailedError,
)
from certsvc.rendering.bilingual_layout import (
    BILINGUAL_FILE,
    DEPARTMENT_NAME_MN,
    check_mongolian_item,
)
from certsvc.rendering.catalogue_entry import load_catalogue_entry
from certsvc.rendering.fonts import register_fonts
from certsvc.rendering.template_fields import FieldSpec, FieldType, glyph_problem
from certsvc.rendering.template_format import (
    PAGE_SIZES,
    ColumnDocument,
    FieldDocument,
    PageDocument,
    TemplateHeader,
    TextStyle,
    parse_field,
    parse_part,
)
from certsvc.rendering.template_layout_format import (
    ITEM_KINDS,
    REQUIRED_MARKS,
    parse_item,
    parse_mark,
)
from certsvc.rendering.template_model import (
    BUILTIN_SOURCES,
    MM,
    LayoutItem,
    LicenceTemplate,
    PageSpec,
    format_date_cn,
)

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

_FIELD_KINDS_FOR_TYPE: Mapping[FieldType, frozenset[str]] = {
    FieldType.TABLE: frozenset({"table"}),
    FieldType.IMAGE: frozenset({"image"}),
    FieldType.MULTILINE: frozenset({"field", "flow"}),
}
_DEFAULT_FIELD_KINDS = frozenset({"field"})


class _Problems:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, problem: str) -> None:
        self.items.append(f"{self.path}: {problem}")

    def extend(self, problems: list[str]) -> None:
        for problem in problems:
            self.add(problem)


def _field_spec(document: FieldDocument | ColumnDocument) -> FieldSpec:
    columns = document.columns if isinstance(document, FieldDocument) else ()
    return FieldSpec(
        key=document.key,
        label=document.label,
        type=document.type,
        required=document.required,
        max_length=document.max_length,
        pattern=document.pattern,
        enum=document.enum,
        columns=tuple(_field_spec(column) for column in columns),
        max_rows=document.max_rows,
        minimum=document.minimum,
        maximum=document.maximum,
    )


def _props(model: BaseModel) -> dict[str, Any]:
    """What the template said, typed: unset properties stay absent so renderers use defaults."""
    return model.model_dump(exclude_unset=True)


def _parse_page(raw: object, problems: _Problems) -> PageSpec:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.add('page must be an object like {"size": "A4", "orientation": "portrait"}')
        return PageSpec(*PAGE_SIZES["A4"])
    page, page_problems = parse_part(PageDocument, raw, "page")
    # The page's own sentences already say "page size …"; the "page: " place would repeat it.
    problems.extend([p.removeprefix("page: ") for p in page_problems])
    return PageSpec(*page.width_height_mm) if page is not None else PageSpec(*PAGE_SIZES["A4"])


def _parse_fields(raw: object, problems: _Problems) -> tuple[list[FieldSpec], set[str]]:
    """The declared fields, and the keys of fields declared but broken (not "unknown" later)."""
    if not isinstance(raw, list):
        problems.add("fields must be a list")
        return [], set()
    fields: list[FieldSpec] = []
    broken: set[str] = set()
    for index, raw_field in enumerate(raw):
        document, field_problems = parse_field(raw_field, f"fields[{index}]")
        problems.extend(field_problems)
        if document is not None:
            fields.append(_field_spec(document))
        elif isinstance(raw_field, dict) and isinstance(raw_field.get("key"), str):
            broken.add(raw_field["key"])
    keys = [f.key for f in fields]
    for key in sorted({k for k in keys if keys.count(k) > 1}):
        problems.add(f"field {key!r} is declared more than once")
    return fields, broken


def _check_source(
    where: str,
    kind: str,
    source: str,
    types: Mapping[str, FieldType],
    broken: set[str],
    problems: _Problems,
) -> None:
    if source.startswith("$"):
        if source not in BUILTIN_SOURCES:
            problems.add(
                f"{where}: unknown built-in value {source!r} (known: {', '.join(sorted(BUILTIN_SOURCES))})"
            )
        elif (kind == "mongolian") != (source == DEPARTMENT_NAME_MN):
            drawer = "mongolian" if source == DEPARTMENT_NAME_MN else "field"
            problems.add(f"{where}: built-in value {source!r} can only be drawn by a {drawer} item")
    elif source in broken:
        return  # its own problems are listed with the field
    elif source not in types:
        problems.add(f"{where}: layout refers to unknown field {source!r}")
    elif kind not in _FIELD_KINDS_FOR_TYPE.get(types[source], _DEFAULT_FIELD_KINDS):
        problems.add(f"{where}: a {types[source].value} field cannot be drawn by a {kind!r} item")


def _parse_items(
    raw: object, fields: list[FieldSpec], broken: set[str], page: PageSpec, problems: _Problems
) -> tuple[list[LayoutItem], set[str]]:
    """The layout items, and every field some item draws (broken items included)."""
    if not isinstance(raw, list):
        problems.add("layout.items must be a list")
        return [], set()
    types = {f.key: f.type for f in fields}
    items: list[LayoutItem] = []
    drawn: set[str] = set()
    for index, raw_item in enumerate(raw):
        where = f"layout.items[{index}]"
        document, item_problems = parse_item(raw_item, where)
        problems.extend(item_problems)
        if not isinstance(raw_item, dict):
            continue
        kind = str(raw_item.get("kind"))
        source = raw_item.get("field")
        if isinstance(source, str):
            drawn.add(source)
            if kind in ITEM_KINDS:
                _check_source(where, kind, source, types, broken, problems)
        if document is None:
            continue
        props = _props(document)
        if kind == "table" and isinstance(source, str) and source in types:
            spec = next(f for f in fields if f.key == source)
            column_keys = {c.key for c in spec.columns}
            for cindex, column in enumerate(props["columns"]):
                if column["key"] not in column_keys:
                    problems.add(
                        f"{where}: columns[{cindex}] must be {{key: <a column of {source}>, width: mm}}"
                    )
        problems.extend(check_mongolian_item(where, props))
        for text in (props.get("label"), props.get("text") if kind != "mongolian" else None):
            if isinstance(text, str):
                problem = glyph_problem(
                    text, {props.get("label_font") or props.get("font") or "song"}
                )
                if problem:
                    problems.add(f"{where}: static text {problem}")
        _check_bounds(where, props, page, problems)
        items.append(LayoutItem(kind=kind, props=props, page=str(props.get("page", "first"))))
    if sum(1 for item in items if item.kind == "flow") > 1:
        problems.add("at most one flow item per template (it decides the page count)")
    return items, drawn


def _parse_marks(
    layout: Mapping[str, Any], page: PageSpec, problems: _Problems
) -> dict[str, LayoutItem | None]:
    marks: dict[str, LayoutItem | None] = {}
    for name in ("qr", "seal", "identifier", "print_mark"):
        raw = layout.get(name)
        marks[name] = None
        if raw is None:
            if name in REQUIRED_MARKS:
                problems.add(f"layout.{name} is required")
            continue
        if not isinstance(raw, dict):
            problems.add(f"layout.{name} must be an object")
            continue
        document, mark_problems = parse_mark(name, raw)
        problems.extend(mark_problems)
        if document is not None:
            props = _props(document)
            _check_bounds(f"layout.{name}", props, page, problems)
            marks[name] = LayoutItem(kind=name, props=props, page=str(props.get("page", "first")))
    return marks


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
    if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", slug):
        problems.add(f"folder name {slug!r} is not a slug (lower-case ASCII words joined by '-')")
    header, header_problems = parse_part(TemplateHeader, raw, "")
    problems.extend(
        [
            p.removeprefix(": ").replace("unknown property", "unknown top-level property")
            for p in header_problems
        ]
    )
    page = _parse_page(raw.get("page"), problems)
    defaults = raw.get("defaults", {})
    if not isinstance(defaults, dict):
        problems.add("defaults must be an object")
        defaults = {}
    style, style_problems = parse_part(TextStyle, defaults, "defaults")
    problems.extend(style_problems)

    fields, broken = _parse_fields(raw.get("fields"), problems)
    layout = raw.get("layout")
    if not isinstance(layout, dict):
        problems.add("layout must be an object")
        layout = {}
    for prop in layout:
        if prop not in ("items", "qr", "seal", "identifier", "print_mark"):
            problems.add(f"layout: unknown property {prop!r}")
    items, drawn = _parse_items(layout.get("items"), fields, broken, page, problems)
    for spec in fields:
        if spec.key not in drawn:
            problems.add(f"field {spec.key!r} is declared but never placed in the layout")
    marks = _parse_marks(layout, page, problems)

    sample_path = directory / "sample.json"
    if not sample_path.is_file():
        problems.add(f"sample.json is missing (expected at {sample_path})")

    if problems.items or header is None or style is None:
        raise ConfigurationError(
            f"template {slug!r} is unusable: " + "; ".join(problems.items),
            details=[{"file": str(path), "problem": p.split(": ", 1)[1]} for p in problems.items],
        )
    qr, seal, identifier = marks["qr"], marks["seal"], marks["identifier"]
    assert (
        qr is not None and seal is not None and identifier is not None
    )  # required marks, checked above
    template = LicenceTemplate(
        slug=slug,
        name=header.name,
        type_code=header.type_code,
        page=page,
        fields=tuple(fields),
        items=tuple(items),
        qr=qr,
        seal=seal,
        identifier=identifier,
        print_mark=marks["print_mark"],
        sample_path=sample_path,
        directory=directory,
        description=header.description,
        defaults=_props(style),
        seal_purpose=header.seal_purpose,
    )
    _check_sample(template)
    return template


def _check_bounds(
    where: str, props: Mapping[str, Any], page: PageSpec, problems: _Problems
) -> None:
    def inside(x: float, y: float) -> bool:
        return -0.01 <= x <= page.width_mm + 0.01 and -0.01 <= y <= page.height_mm + 0.01

    for px, py in (("x", "y"), ("x1", "y1"), ("x2", "y2"), ("cx", "cy")):
        if px in props and py in props and not inside(props[px], props[py]):
            problems.add(
                f"{where}: ({px}, {py}) lies outside the {page.width_mm:g}×{page.height_mm:g} mm page"
            )
    if "x" in props and props.get("width") is not None:
        right = props["x"] + (props.get("label_width") or 0) + props["width"]
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
            details=[
                {"file": str(path), "problem": f"differs from template.json in {d}"}
                for d in differences
            ],
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
                templates[sub.name] = dataclasses.replace(
                    template, catalogue=load_catalogue_entry(sub)
                )
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
