"""GET /api/v1/templates[/{slug}[/preview.png]] and the gallery pages built on them."""

from __future__ import annotations

import io
from typing import Any

import jsonschema_rs
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from certsvc.services.context import ServiceContext
from tests.conftest import TEMPLATES, auth, make_department

SLUGS = sorted(p.name for p in TEMPLATES.iterdir() if (p / "template.json").exists())


def test_the_list_names_every_template_with_its_type_code(client: TestClient) -> None:
    response = client.get("/api/v1/templates")
    assert response.status_code == 200
    listed = {t["slug"]: t for t in response.json()}
    assert sorted(listed) == SLUGS
    food = listed["food-business-licence"]
    assert food["name"] == "食品经营许可证" and food["type_code"]
    assert food["links"]["preview_png"].endswith("/api/v1/templates/food-business-licence/preview.png")


@pytest.fixture(scope="module")
def issuer(embedded: ServiceContext) -> str:
    return make_department(embedded)[1]  # may issue every licence type


@pytest.mark.parametrize("slug", SLUGS)
def test_schema_accepts_the_sample_which_issues_as_written(client: TestClient, issuer: str, slug: str) -> None:
    described: dict[str, Any] = client.get(f"/api/v1/templates/{slug}").json()
    validator = jsonschema_rs.Draft202012Validator(described["fields_schema"])
    sample = described["sample_request"]
    assert validator.is_valid(sample["fields"])
    assert not validator.is_valid({**sample["fields"], "no_such_field": "x"})
    issued = client.post("/api/v1/certificates", json=sample, headers=auth(issuer))
    assert issued.status_code == 201, issued.text
    assert issued.json()["template"] == slug and f".{described['type_code']}." in issued.json()["identifier"]


def test_preview_is_a_png_of_the_licence_page(client: TestClient) -> None:
    response = client.get("/api/v1/templates/food-business-licence/preview.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    width, height = image.size
    assert 400 <= width <= 1200 and 0.5 < width / height < 2.0
    # Not a blank page: a drawn licence has plenty of dark pixels (text, frame, seal).
    dark = sum(image.convert("L").point(lambda v: 255 if v < 128 else 0).histogram()[255:])
    assert dark > width * height * 0.005
    assert client.get("/api/v1/templates/food-business-licence/preview.png").content == response.content


def test_unknown_template_is_a_404_problem(client: TestClient) -> None:
    for path in ("/api/v1/templates/no-such-licence", "/api/v1/templates/no-such-licence/preview.png"):
        response = client.get(path)
        assert response.status_code == 404 and response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not_found"
    assert client.get("/templates/no-such-licence").status_code == 404


def test_gallery_pages_show_every_template_its_fields_and_sample(client: TestClient) -> None:
    page = client.get("/templates")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for slug in SLUGS:
        assert f'src="/api/v1/templates/{slug}/preview.png"' in page.text
    detail = client.get("/templates/food-business-licence")
    assert detail.status_code == 200
    assert "食品经营许可证" in detail.text and "licence_number" in detail.text and "许可证编号" in detail.text
    assert "锡林浩特市" in detail.text  # the sample request is shown
