"""Shared fixtures for rendering tests: the shipped templates, a seal, content from samples."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from certsvc.domain.identifiers import HolderIdType, LicenceIdentifier
from certsvc.domain.licence import Issuer, LicenceRecord
from certsvc.rendering.renderer import LicenceContent, RenderedLicence, render_licence
from certsvc.rendering.seals import draw_round_seal
from certsvc.rendering.templates import LicenceTemplate, TemplateRegistry

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
DEPARTMENT_NAME = "锡林郭勒盟市场监督管理局"
DEPARTMENT_CODE = "11152500011512829G"
AREA_CODE = "152500"  # 锡林郭勒盟
ISSUED_ON = date(2026, 3, 15)


@pytest.fixture(scope="session")
def registry() -> TemplateRegistry:
    return TemplateRegistry.load(TEMPLATES_DIR)


@pytest.fixture(scope="session")
def seal_png() -> bytes:
    return draw_round_seal(department_name=DEPARTMENT_NAME, code="3202000012345")


def content_for(template: LicenceTemplate, **overrides: Any) -> LicenceContent:
    """LicenceContent built from the template's shipped sample, as the producer would.

    ``overrides`` name a record field (``holder_name``, ``fields`` ...), ``area_code``,
    ``department_name``, ``department_name_mn`` (the issuer's), or a
    version field (``identifier``, ``issued_on``, ``verify_url``).
    """
    sample = template.load_sample()
    identifier = LicenceIdentifier(template.type_code, DEPARTMENT_CODE, "20260315000123", 1)
    record = LicenceRecord(
        kind=template.kind,
        holder_name=sample["holder"]["name"],
        holder_id_type=HolderIdType(sample["holder"]["id_type"]),
        holder_id=sample["holder"]["id"],
        fields=template.validate_fields(sample["fields"]),
        valid_from=date.fromisoformat(sample["valid_from"]),
        valid_until=date.fromisoformat(sample["valid_until"]),
        issuer=Issuer(
            name=overrides.pop("department_name", DEPARTMENT_NAME),
            code=DEPARTMENT_CODE,
            area_code=overrides.pop("area_code", AREA_CODE),
            name_mn=overrides.pop("department_name_mn", None),
        ),
    )
    if "holder_id_type" in overrides:
        overrides["holder_id_type"] = HolderIdType(overrides["holder_id_type"])
    version = {k: overrides.pop(k) for k in ("identifier", "issued_on", "verify_url") if k in overrides}
    return LicenceContent(
        record=replace(record, **overrides),
        identifier=version.get("identifier", str(identifier)),
        issued_on=version.get("issued_on", ISSUED_ON),
        verify_url=version.get("verify_url", f"https://zz.xlgl.example/v/{identifier}?k=Q7uX2mR9"),
    )


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
