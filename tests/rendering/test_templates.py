from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from certsvc.errors import ConfigurationError, UnknownTemplateError, ValidationFailedError
from certsvc.rendering.templates import FieldType, TemplateRegistry

from .conftest import TEMPLATES_DIR

pytestmark = pytest.mark.db_independent

FOOD = "food-business-licence"


def test_registry_loads_shipped_templates(registry: TemplateRegistry) -> None:
    slugs = [t.slug for t in registry.all()]
    assert FOOD in slugs
    food = registry.get(FOOD)
    assert food.name == "食品经营许可证"
    assert food.type_code == "11100000MB0143028R001"
    assert food.sample_path.is_file()
    assert {f.key for f in food.fields} >= {
        "licence_number",
        "business_type",
        "business_items",
        "issuer",
    }
    assert food.field_map["business_type"].type is FieldType.ENUM


def test_every_sample_validates(registry: TemplateRegistry) -> None:
    for template in registry.all():
        sample = template.load_sample()
        assert sample["template"] == template.slug
        assert template.validate_fields(sample["fields"])


def test_unknown_template(registry: TemplateRegistry) -> None:
    with pytest.raises(UnknownTemplateError):
        registry.get("no-such-licence")


# --- broken templates are refused at load time, naming the file -------------------------------
def _copy_food(tmp_path: Path) -> Path:
    target = tmp_path / "templates" / FOOD
    shutil.copytree(TEMPLATES_DIR / FOOD, target)
    return target


def _edit(folder: Path, change: Any) -> None:
    path = folder / "template.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def _load_error(folder: Path) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as info:
        TemplateRegistry.load(folder.parent)
    assert (
        str(folder / "template.json") in info.value.message
        or str(folder / "sample.json") in info.value.message
    )
    return info.value


def test_bad_json_is_refused_with_file_named(tmp_path: Path) -> None:
    folder = _copy_food(tmp_path)
    (folder / "template.json").write_text('{"format": 1, "name": ', encoding="utf-8")
    assert "not valid UTF-8 JSON" in _load_error(folder).message


def test_every_problem_is_listed(tmp_path: Path) -> None:
    folder = _copy_food(tmp_path)

    def break_it(data: dict[str, Any]) -> None:
        data["fields"][0]["type"] = "barcode"
        data["layout"]["items"].append(
            {"kind": "field", "field": "ghost", "x": 20, "y": 30, "width": 40}
        )
        data["layout"]["items"].append({"kind": "sparkles", "x": 1, "y": 1})
        data["type_code"] = "11100000MB0143028X001"
        del data["layout"]["qr"]

    _edit(folder, break_it)
    message = _load_error(folder).message
    assert "unknown field type 'barcode'" in message
    assert "unknown field 'ghost'" in message
    assert "unknown kind 'sparkles'" in message
    assert "type_code" in message
    assert "layout.qr is required" in message


def test_missing_sample_is_refused(tmp_path: Path) -> None:
    folder = _copy_food(tmp_path)
    (folder / "sample.json").unlink()
    assert "sample.json is missing" in _load_error(folder).message


def test_sample_that_does_not_validate_is_refused(tmp_path: Path) -> None:
    folder = _copy_food(tmp_path)
    sample_path = folder / "sample.json"
    sample = json.loads(sample_path.read_text(encoding="utf-8"))
    sample["fields"]["licence_number"] = "XX123"
    sample["holder"]["id"] = "91320213MA1N2P3Q44"  # wrong check character
    sample_path.write_text(json.dumps(sample, ensure_ascii=False), encoding="utf-8")
    message = _load_error(folder).message
    assert "licence_number" in message and "holder id is invalid" in message


def test_layout_outside_page_and_unplaced_field_are_refused(tmp_path: Path) -> None:
    folder = _copy_food(tmp_path)

    def break_it(data: dict[str, Any]) -> None:
        data["layout"]["qr"]["x"] = 400
        data["layout"]["items"] = [i for i in data["layout"]["items"] if i.get("field") != "issuer"]

    _edit(folder, break_it)
    message = _load_error(folder).message
    assert "outside the 210×297 mm page" in message
    assert "'issuer' is declared but never placed" in message


# --- validate_fields -------------------------------------------------------------------------
def _sample_fields(registry: TemplateRegistry) -> dict[str, Any]:
    return copy.deepcopy(registry.get(FOOD).load_sample()["fields"])


def test_validate_fields_normalises(registry: TemplateRegistry) -> None:
    fields = _sample_fields(registry)
    fields["legal_representative"] = "  王建国 "
    fields["business_items"] = "热食类食品制售\r\n冷食类食品制售"
    result = registry.get(FOOD).validate_fields(fields)
    assert result["legal_representative"] == "王建国"
    assert result["business_items"] == "热食类食品制售\n冷食类食品制售"


def test_validate_fields_reports_every_problem(registry: TemplateRegistry) -> None:
    fields = _sample_fields(registry)
    del fields["legal_representative"]  # missing required
    fields["residence"] = "江" * 81  # longer than max_length 80
    fields["licence_number"] = "JY9320213012345"  # bad pattern
    fields["business_type"] = "网络餐饮"  # not in the enum
    fields["colour"] = "red"  # unknown field
    fields["supervisors"] = 42  # wrong type
    with pytest.raises(ValidationFailedError) as info:
        registry.get(FOOD).validate_fields(fields)
    by_field = {d["field"]: d["problem"] for d in info.value.details}
    assert set(by_field) == {
        "legal_representative",
        "residence",
        "licence_number",
        "business_type",
        "colour",
        "supervisors",
    }
    assert "missing" in by_field["legal_representative"]
    assert "too long" in by_field["residence"]
    assert "format" in by_field["licence_number"]
    assert "one of" in by_field["business_type"]
    assert "unknown field" in by_field["colour"]


def test_value_that_does_not_fit_its_box_is_refused(registry: TemplateRegistry) -> None:
    fields = _sample_fields(registry)
    # Within max_length (300) but more than the 5 lines the box holds.
    fields["business_items"] = "；".join(["预包装食品（含冷藏冷冻食品）销售"] * 16)[:299]
    with pytest.raises(ValidationFailedError) as info:
        registry.get(FOOD).validate_fields(fields)
    assert info.value.details[0]["field"] == "business_items"
    assert "too long for its place" in info.value.details[0]["problem"]


def test_character_without_glyph_is_refused(registry: TemplateRegistry) -> None:
    fields = _sample_fields(registry)
    fields["legal_representative"] = "王\U00020023国"  # in no installed face, fallback included
    with pytest.raises(ValidationFailedError) as info:
        registry.get(FOOD).validate_fields(fields)
    problem = info.value.details[0]["problem"]
    assert "\U00020023" in problem and "U+20023" in problem


def test_invisible_and_control_characters_are_refused(registry: TemplateRegistry) -> None:
    fields = _sample_fields(registry)
    fields["legal_representative"] = "王\u200b建国"  # zero-width space pasted from a web page
    fields["supervisors"] = "李明\x07"
    with pytest.raises(ValidationFailedError) as info:
        registry.get(FOOD).validate_fields(fields)
    by_field = {d["field"]: d["problem"] for d in info.value.details}
    assert "U+200B" in by_field["legal_representative"]
    assert "U+0007" in by_field["supervisors"]


# --- the parts of a template file are typed; what the whole template must satisfy is checked ---
def test_a_broken_field_is_reported_once_not_again_where_the_layout_draws_it(tmp_path: Path) -> None:
    folder = _copy_food(tmp_path)
    _edit(folder, lambda data: data["fields"][1].update(type="barcode"))
    problems = [d["problem"] for d in _load_error(folder).details]
    assert problems == [
        "fields[1] (legal_representative): unknown field type 'barcode' "
        "(known: text, date, number, enum, multiline, table, image)"
    ]


def test_item_properties_are_checked_by_the_model_of_their_kind(tmp_path: Path) -> None:
    folder = _copy_food(tmp_path)

    def break_it(data: dict[str, Any]) -> None:
        items = data["layout"]["items"]
        items[1].update(size=True, page="second", font="comic")  # a text item
        items[3]["zzz"] = 1  # a field item
        del items[4]["x"]
        items.append({"kind": "rect", "x": 1, "y": 1, "w": 2, "h": 2, "fill": "blue", "inset": 3})

    _edit(folder, break_it)
    rect = len(json.loads((folder / "template.json").read_text(encoding="utf-8"))["layout"]["items"]) - 1
    problems = {d["problem"] for d in _load_error(folder).details}
    assert {
        "layout.items[1] (text): property 'size' has the wrong type",
        "layout.items[1] (text): page must be first, last, every or a page number",
        "layout.items[1] (text): unknown font 'comic' (known: hei, kai, song)",
        "layout.items[3] (field): unknown property 'zzz'",
        "layout.items[4] (field): missing property 'x'",
        f"layout.items[{rect}] (rect): fill must look like #RRGGBB",
        f"layout.items[{rect}] (rect): unknown property 'inset'",
    } <= problems


def test_table_columns_are_typed_too(tmp_path: Path) -> None:
    target = tmp_path / "templates" / "construction-planning-permit"
    shutil.copytree(TEMPLATES_DIR / "construction-planning-permit", target)

    def break_it(data: dict[str, Any]) -> None:
        table = next(item for item in data["layout"]["items"] if item["kind"] == "table")
        table["columns"][0]["align"] = "justify"
        table["columns"][1]["width"] = "20mm"

    _edit(target, break_it)
    problems = {d["problem"] for d in _load_error(target).details}
    assert any("columns[0].align must be left, center or right" in p for p in problems)
    assert any("property 'columns[1].width' has the wrong type" in p for p in problems)


def test_each_templates_fields_are_published_as_json_schema(registry: TemplateRegistry) -> None:
    for template in registry.all():
        schema = template.fields_json_schema()
        validator = jsonschema_rs.validator_for(schema)
        sample = template.load_sample()["fields"]
        assert validator.is_valid(sample), template.slug
        assert not validator.is_valid({**sample, "no_such_field": "x"})
        required = next(spec.key for spec in template.fields if spec.required)
        assert not validator.is_valid({k: v for k, v in sample.items() if k != required})


def test_the_field_schema_says_what_the_validator_refuses(registry: TemplateRegistry) -> None:
    food = registry.get(FOOD)
    validator = jsonschema_rs.validator_for(food.fields_json_schema())
    fields = _sample_fields(registry)
    for key, bad in (
        ("business_type", "网吧"),  # not one of the enum values
        ("licence_number", "XX123"),  # the template's pattern
        ("complaint_phone", "1" * 14),  # longer than max_length
        ("issuer", "张三\n李四"),  # a single-line text
    ):
        case = {**fields, key: bad}
        assert not validator.is_valid(case), key
        with pytest.raises(ValidationFailedError):
            food.validate_fields(case)
