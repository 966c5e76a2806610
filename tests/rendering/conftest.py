"""Shared fixtures for rendering tests: the shipped templates, a seal, content from samples."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from certsvc.domain.identifiers import LicenceIdentifier
from certsvc.rendering.renderer import LicenceContent, RenderedLicence, render_licence
from certsvc.rendering.seals import draw_round_seal
from certsvc.rendering.templates import LicenceTemplate, TemplateRegistry

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
DEPARTMENT_NAME = "锡林郭勒盟市场监督管理局"
DEPARTMENT_CODE = "11152500011512829G"
ISSUED_ON = date(2026, 3, 15)


@pytest.fixture(scope="session")
def registry() -> TemplateRegistry:
    return TemplateRegistry.load(TEMPLATES_DIR)


@pytest.fixture(scope="session")
def seal_png() -> bytes:
    return draw_round_seal(department_name=DEPARTMENT_NAME, code="3202000012345")


def content_for(template: LicenceTemplate, **overrides: Any) -> LicenceContent:
    """LicenceContent built from the template's shipped sample, as the issuance service would."""
    sample = template.load_sample()
    identifier = LicenceIdentifier(template.type_code, DEPARTMENT_CODE, "20260315000123", 1)
    values: dict[str, Any] = dict(
        identifier=str(identifier),
        holder_name=sample["holder"]["name"],
        holder_id_type=sample["holder"]["id_type"],
        holder_id=sample["holder"]["id"],
        fields=template.validate_fields(sample["fields"]),
        valid_from=date.fromisoformat(sample["valid_from"]),
        valid_until=date.fromisoformat(sample["valid_until"]),
        issued_on=ISSUED_ON,
        department_name=DEPARTMENT_NAME,
        department_code=DEPARTMENT_CODE,
        verify_url=f"https://zz.xlgl.example/v/{identifier}?k=Q7uX2mR9",
    )
    values.update(overrides)
    return LicenceContent(**values)


@pytest.fixture
def make_content() -> Callable[..., LicenceContent]:
    return content_for


@pytest.fixture(scope="session")
def rendered(
    registry: TemplateRegistry, seal_png: bytes
) -> dict[str, tuple[LicenceContent, RenderedLicence]]:
    out = {}
    for template in registry.all():
        content = content_for(template)
        out[template.slug] = (content, render_licence(template, content, seal_image_png=seal_png))
    return out
