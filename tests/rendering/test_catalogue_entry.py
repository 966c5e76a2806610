"""catalogue.json beside a template: checked at start-up, every problem named with its file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from certsvc.errors import ConfigurationError
from certsvc.rendering.catalogue_entry import ValidityKind, load_catalogue_entry
from certsvc.rendering.templates import TemplateRegistry
from tests.conftest import TEMPLATES

pytestmark = pytest.mark.db_independent


def test_every_shipped_template_has_its_catalogue_entry() -> None:
    for folder in TEMPLATES.iterdir():
        if (folder / "template.json").exists():
            entry = load_catalogue_entry(folder)
            assert entry is not None, folder.name
            assert entry.definer_name and entry.holder_kinds


def test_a_bad_catalogue_entry_stops_start_up_with_each_problem(tmp_path: Path) -> None:
    folder = tmp_path / "food-business-licence"
    shutil.copytree(TEMPLATES / "food-business-licence", folder)
    (folder / "catalogue.json").write_text(
        json.dumps(
            {
                "definer_name": "",
                "holder_kinds": ["company"],
                "validity": {"kind": "term"},
                "extra": 1,
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError) as caught:
        TemplateRegistry.load(tmp_path)
    message = caught.value.message
    assert "catalogue.json" in message
    for problem in ("definer_name", "holder_kinds", "validity.years", "unknown property 'extra'"):
        assert problem in message


def test_a_template_without_catalogue_entry_still_loads(tmp_path: Path) -> None:
    folder = tmp_path / "drug-business-licence"
    shutil.copytree(TEMPLATES / "drug-business-licence", folder)
    (folder / "catalogue.json").unlink()
    assert TemplateRegistry.load(tmp_path).get("drug-business-licence").catalogue is None


def test_long_term_validity_takes_no_years(tmp_path: Path) -> None:
    (tmp_path / "catalogue.json").write_text(
        json.dumps(
            {
                "definer_name": "自然资源部",
                "holder_kinds": ["uscc"],
                "validity": {"kind": "long_term"},
            }
        ),
        encoding="utf-8",
    )
    entry = load_catalogue_entry(tmp_path)
    assert (
        entry is not None
        and entry.validity.kind is ValidityKind.LONG_TERM
        and entry.validity.years is None
    )
    (tmp_path / "catalogue.json").write_text(
        json.dumps(
            {
                "definer_name": "自然资源部",
                "holder_kinds": ["uscc"],
                "validity": {"kind": "long_term", "years": 3},
            }
        ),
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match="only goes with kind term"):
        load_catalogue_entry(tmp_path)


@pytest.mark.parametrize(
    ("validity", "problem"),
    [
        ({"kind": "term", "years": 5, "max_years": 3}, "between years (5) and 50"),
        ({"kind": "term", "years": 5, "max_years": "10"}, "whole number of years"),
        ({"kind": "per_licence", "max_years": 10}, "max_years only goes with kind term"),
    ],
)
def test_a_longer_ceiling_is_checked(
    tmp_path: Path, validity: dict[str, object], problem: str
) -> None:
    (tmp_path / "catalogue.json").write_text(
        json.dumps({"definer_name": "水利部", "holder_kinds": ["uscc"], "validity": validity}),
        encoding="utf-8",
    )
    with pytest.raises(ConfigurationError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        load_catalogue_entry(tmp_path)


def test_the_water_permit_runs_five_years_and_at_most_ten() -> None:
    entry = load_catalogue_entry(TEMPLATES / "water-abstraction-permit")
    assert entry is not None
    assert (entry.validity.years, entry.validity.max_years, entry.validity.longest_years) == (
        5,
        10,
        10,
    )
