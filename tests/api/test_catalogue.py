"""GET /api/v1/catalogue (public) and its facts: definer code from the type code, grants, versions."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from certsvc.services.context import ServiceContext
from certsvc.services.provisioning import DEMO_DEPARTMENTS
from tests.conftest import TEMPLATES


def _by_template(client: TestClient) -> dict[str, dict[str, Any]]:
    response = client.get("/api/v1/catalogue")  # no key: the catalogue is public
    assert response.status_code == 200, response.text
    return {t["template"]: t for t in response.json()["types"]}


def test_catalogue_lists_every_installed_type_with_its_facts(client: TestClient, embedded: ServiceContext) -> None:
    types = _by_template(client)
    assert set(types) == {p.name for p in TEMPLATES.iterdir() if (p / "template.json").exists()}
    food = types["food-business-licence"]
    assert food["type_code"] == "11100000MB0143028R001"
    assert food["definer_code"] == "11100000MB0143028R"  # GB/T 36904: the definer's USCC leads the type code
    assert food["definer_name"] == "国家市场监督管理总局"
    assert (food["holder_kinds"], food["holder_kind_codes"]) == (["uscc"], ["001"])
    assert (food["validity_kind"], food["validity_years"]) == ("term", 5)
    assert food["has_bilingual_layout"] is True
    special = types["special-operations-certificate"]
    assert (special["holder_kinds"], special["holder_kind_codes"]) == (["resident_id"], ["111"])
    assert types["construction-planning-permit"]["validity_years"] is None
    water = types["water-abstraction-permit"]  # 一般为5年，最长不超过10年
    assert (water["validity_kind"], water["validity_years"], water["validity_max_years"]) == ("term", 5, 10)
    assert food["validity_max_years"] is None
    title = types["real-estate-title"]
    assert (title["validity_kind"], set(title["holder_kinds"])) == ("long_term", {"resident_id", "uscc"})


def test_catalogue_names_the_departments_allowed_to_issue_each_type(client: TestClient) -> None:
    types = _by_template(client)
    for demo in DEMO_DEPARTMENTS:
        for slug in demo.licence_types:
            assert {"code": demo.code, "name": demo.name} in types[slug]["departments"]
    planners = {d["code"] for d in types["construction-planning-permit"]["departments"]}
    market = next(d for d in DEMO_DEPARTMENTS if d.name == "锡林郭勒盟市场监督管理局")
    assert market.code not in planners  # a 市场监督管理局 never issues planning permits


def test_template_version_changes_with_the_template_files(client: TestClient, embedded: ServiceContext) -> None:
    from certsvc.services.catalogue import template_version

    food = embedded.templates.get("food-business-licence")
    assert _by_template(client)["food-business-licence"]["template_version"] == template_version(food)
    other = embedded.templates.get("drug-business-licence")
    assert template_version(food) != template_version(other)
    assert len(template_version(food)) == 16


def test_one_type_by_code_or_slug_and_unknown_is_problem_json(client: TestClient) -> None:
    by_code = client.get("/api/v1/catalogue/11100000MB0A9163XD001").json()
    assert by_code["template"] == "drug-business-licence"
    assert client.get("/api/v1/catalogue/drug-business-licence").json() == by_code
    missing = client.get("/api/v1/catalogue/no-such-type")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.json()["code"] == "unknown_licence_type"


def test_issuance_refuses_a_holder_kind_the_catalogue_does_not_list(client: TestClient, sm2_key: str, ecdsa_key: str) -> None:
    from tests.conftest import auth, sample_request
    from tests.idp import fresh_resident_id

    body = sample_request("food-business-licence")
    body["holder"] = {"name": "张三", "id_type": "resident_id", "id": fresh_resident_id()}
    refused = client.post("/api/v1/certificates", json=body, headers=auth(ecdsa_key))
    assert refused.status_code == 422 and refused.json()["code"] == "holder_kind_not_allowed"
    assert refused.json()["errors"] == [{"field": "holder.id_type", "problem": "one of uscc"}]
    person = sample_request("special-operations-certificate")  # a person's certificate, as listed
    assert client.post("/api/v1/certificates", json=person, headers=auth(sm2_key)).status_code == 201
