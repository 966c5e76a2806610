"""Departments and seals with Mongolian names through the admin API; bilingual seal images."""

from __future__ import annotations

import io
import secrets
import subprocess
import zipfile
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image, ImageChops, ImageStat
from sqlalchemy import select

from certsvc.crypto.ses import parse_seal
from certsvc.domain.identifiers import uscc_check_char
from certsvc.rendering.bilingual_seals import RingLayout, draw_bilingual_round_seal
from certsvc.rendering.seals import draw_round_seal
from certsvc.services.context import ServiceContext
from certsvc.storage.orm import Seal
from tests.conftest import auth, sample_request

# Test words, not an official name: the API stores what it is given.
NAME_MN = "ᠰᠢᠯᠢ ᠶᠢᠨ ᠭᠣᠣᠯ ᠠᠶᠢᠮᠠᠭ"


def _code(area: str) -> str:
    first17 = "11" + area + "".join(secrets.choice("0123456789ABCDEFGHJKLMNPQRTUWXY") for _ in range(9))
    return first17 + uscc_check_char(first17)


def test_inner_mongolia_departments_default_to_bilingual_and_are_told_of_a_missing_name(
    client: TestClient, operator_key: str
) -> None:
    made = client.post(
        "/api/v1/admin/departments",
        json={"code": _code("152501"), "name": "二连浩特市市场监督管理局", "area_code": "152501"},
        headers=auth(operator_key),
    )
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["is_bilingual"] is True and body["name_mn"] is None
    assert len(body["warnings"]) == 1 and "Mongolian name" in body["warnings"][0]

    elsewhere = client.post(
        "/api/v1/admin/departments",
        json={"code": _code("320213"), "name": "梁溪区市场监督管理局", "area_code": "320213"},
        headers=auth(operator_key),
    ).json()
    assert elsewhere["is_bilingual"] is False and elsewhere["warnings"] == []


def test_the_mongolian_name_is_normalised_and_set_later_by_patch(client: TestClient, operator_key: str) -> None:
    code = _code("152502")
    made = client.post(
        "/api/v1/admin/departments",
        json={"code": code, "name": "锡林浩特市市场监督管理局", "area_code": "152502", "name_mn": f"  {NAME_MN}  "},
        headers=auth(operator_key),
    ).json()
    assert made["name_mn"] == NAME_MN and made["warnings"] == []

    changed = client.patch(
        f"/api/v1/admin/departments/{code}", json={"is_bilingual": False}, headers=auth(operator_key)
    ).json()
    assert changed["is_bilingual"] is False and changed["name_mn"] == NAME_MN


def test_every_problem_comes_back_at_once_as_problem_json(client: TestClient, operator_key: str) -> None:
    answer = client.post(
        "/api/v1/admin/departments",
        json={"code": "11152502000000000X", "name": "测试局", "area_code": "152502", "name_mn": "ᠰᠢᠯᠢ Xilin \u181a"},
        headers=auth(operator_key),
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"].startswith("application/problem+json")
    problems = answer.json()["errors"]
    fields = [p["field"] for p in problems]
    assert fields.count("name_mn") == 2 and "code" in fields  # foreign letters, unassigned U+181A
    assert any("U+0058" in p["problem"] for p in problems)

    unknown = client.patch(
        f"/api/v1/admin/departments/{_code('152502')}", json={"name_mn": NAME_MN}, headers=auth(operator_key)
    )
    assert unknown.status_code == 404


def test_a_bilingual_departments_seal_is_drawn_in_both_scripts_and_is_the_ses_picture(
    client: TestClient, operator_key: str, embedded: ServiceContext
) -> None:
    code = _code("152502")
    name = "锡林浩特市行政审批局"
    client.post(
        "/api/v1/admin/departments",
        json={"code": code, "name": name, "area_code": "152502", "name_mn": NAME_MN},
        headers=auth(operator_key),
    )
    bad = client.post(
        f"/api/v1/admin/departments/{code}/seals",
        json={"name": "行政审批专用章", "name_mn": "abc", "ring_layout": "spiral"},
        headers=auth(operator_key),
    )
    assert bad.status_code == 422
    assert {p["field"] for p in bad.json()["errors"]} == {"name_mn", "ring_layout"}

    made = client.post(
        f"/api/v1/admin/departments/{code}/seals",
        json={"name": "行政审批专用章", "algorithm": "sm2", "ring_layout": "halves"},
        headers=auth(operator_key),
    )
    assert made.status_code == 201, made.text
    assert made.json()["ring_layout"] == "halves"
    expected = draw_bilingual_round_seal(
        department_name=name, department_name_mn=NAME_MN, seal_name="行政审批专用章", layout=RingLayout.HALVES
    )
    with embedded.database.read() as session:
        seal = session.scalars(select(Seal).where(Seal.id == made.json()["id"])).one()
        assert embedded.blobs.get(seal.image_sha256) == expected
        assert seal.ses_seal_der is not None
        assert parse_seal(seal.ses_seal_der).picture_data == expected  # GB/T 38540 picture


def test_a_bilingual_department_issues_the_bilingual_layout(
    client: TestClient, operator_key: str, tmp_path: Path
) -> None:
    code = _code("152502")
    admin = auth(operator_key)
    client.post(
        "/api/v1/admin/departments",
        json={"code": code, "name": "锡林浩特市市场监督管理局", "area_code": "152502", "name_mn": NAME_MN},
        headers=admin,
    )
    client.post(f"/api/v1/admin/departments/{code}/seals", json={"name": "行政许可专用章"}, headers=admin)
    allowed = client.patch(
        f"/api/v1/admin/departments/{code}/licence-types", json={"add": ["food-business-licence"]}, headers=admin
    )
    assert allowed.status_code == 200, allowed.text
    key = client.post(
        "/api/v1/admin/clients", json={"name": f"issuer-{code}", "role": "issuer", "department_code": code}, headers=admin
    ).json()["api_key"]
    issued = client.post("/api/v1/certificates", json=sample_request(), headers=auth(key))
    assert issued.status_code == 201, issued.text
    pdf = client.get(f"/api/v1/certificates/{issued.json()['identifier']}/pdf", headers=auth(key)).content
    (tmp_path / "l.pdf").write_bytes(pdf)
    text = subprocess.run(["pdftotext", str(tmp_path / "l.pdf"), "-"], capture_output=True, text=True, check=True).stdout
    assert NAME_MN in text, text
    assert "锡林浩特市市场监督管" in text
    fonts = subprocess.run(["pdffonts", str(tmp_path / "l.pdf")], capture_output=True, text=True, check=True).stdout
    assert "NotoSansMongolian" in fonts
    report = client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"}).json()
    assert report["verdict"] == "valid"


def test_init_gives_demo_departments_only_attested_mongolian_names(embedded: ServiceContext) -> None:
    from certsvc.services.provisioning import DEMO_DEPARTMENTS, init_embedded
    from certsvc.storage.orm import Department

    result = init_embedded(embedded)  # again: idempotent, and it reports what is missing
    without = [d for d in DEMO_DEPARTMENTS if d.name_mn is None]
    assert len(result.warnings) == len(without) and all("Mongolian name" in w for w in result.warnings)
    attested = [d for d in DEMO_DEPARTMENTS if d.name_mn is not None]
    assert attested and all(d.name_mn_source and d.name_mn_source.startswith("https://mgl.") for d in attested)
    with embedded.database.read() as session:
        for demo in attested:
            department = session.scalars(select(Department).where(Department.code == demo.code)).one()
            assert department.is_bilingual and department.name_mn == demo.name_mn
            seal = session.scalars(select(Seal).where(Seal.department_id == department.id)).first()
            assert seal is not None
            assert embedded.blobs.get(seal.image_sha256) == draw_bilingual_round_seal(
                department_name=demo.name, department_name_mn=demo.name_mn or "", seal_name=demo.seal_name
            )


def _on_white(image: Image.Image) -> Image.Image:
    """The picture as it prints on paper: composed over white (so the colour values of
    transparent pixels do not matter)."""
    return Image.alpha_composite(Image.new("RGBA", image.size, "white"), image.convert("RGBA")).convert("RGB")


def _pdf_images(pdf: bytes) -> list[Image.Image]:
    """Every image XObject with a soft mask (page content and signature appearance), on white."""
    import pymupdf

    out = []
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        for xref in range(1, doc.xref_length()):
            try:
                subtype, smask = doc.xref_get_key(xref, "Subtype")[1], doc.xref_get_key(xref, "SMask")
            except pymupdf.mupdf.FzErrorFormat:  # a free entry of an updated (signed) file
                continue
            if subtype == "/Image" and smask[0] == "xref":
                mask = pymupdf.Pixmap(doc, int(smask[1].split()[0]))
                pixels = pymupdf.Pixmap(pymupdf.Pixmap(doc, xref), mask)
                out.append(_on_white(Image.frombytes("RGBA", (pixels.width, pixels.height), pixels.samples)))
    return out


def _difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel (0–255) of ``b`` resampled to ``a``'s size."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b.resize(a.size, Image.Resampling.LANCZOS))).mean) / 3


def test_one_bilingual_seal_picture_in_the_pdfs_the_ofd_and_the_ses_seal(
    client: TestClient, operator_key: str, embedded: ServiceContext
) -> None:
    """The seal image of the electronic PDF, the print copy, the OFD's GB/T 38540 seal and the
    stored SESeal all come from the one bilingual drawing; the OFD prints the Mongolian name."""
    from certsvc.crypto.ses import parse_signature

    code = _code("152502")
    name = "锡林浩特市市场监督管理局"
    admin = auth(operator_key)
    client.post(
        "/api/v1/admin/departments",
        json={"code": code, "name": name, "area_code": "152502", "name_mn": NAME_MN},
        headers=admin,
    )
    seal = client.post(
        f"/api/v1/admin/departments/{code}/seals", json={"name": "行政许可专用章", "algorithm": "sm2"}, headers=admin
    ).json()
    client.patch(f"/api/v1/admin/departments/{code}/licence-types", json={"add": ["food-business-licence"]}, headers=admin)
    key = client.post(
        "/api/v1/admin/clients", json={"name": f"issuer-{code}", "role": "issuer", "department_code": code}, headers=admin
    ).json()["api_key"]
    issued = client.post("/api/v1/certificates", json=sample_request(), headers=auth(key))
    assert issued.status_code == 201, issued.text
    base = f"/api/v1/certificates/{issued.json()['identifier']}"

    expected = draw_bilingual_round_seal(department_name=name, department_name_mn=NAME_MN, seal_name="行政许可专用章")
    with embedded.database.read() as session:
        stored = session.scalars(select(Seal).where(Seal.id == seal["id"])).one()
        assert embedded.blobs.get(stored.image_sha256) == expected
    ofd = client.get(f"{base}/ofd", headers=auth(key))
    assert ofd.status_code == 200, ofd.text
    with zipfile.ZipFile(io.BytesIO(ofd.content)) as package:
        picture = parse_signature(package.read("Doc_0/Signs/Sign_0/SignedValue.dat")).seal.picture_data
        content = package.read("Doc_0/Pages/Page_0/Content.xml").decode()
    assert picture == expected  # what OFD readers draw in the seal box
    assert NAME_MN.split(" ")[0] in content and 'Fill="false"' in content  # the Mongolian text layer

    # The PDFs hold it at the resolution they print it (the signature appearance resamples it).
    ours = _on_white(Image.open(io.BytesIO(expected)))
    chinese_only = _on_white(Image.open(io.BytesIO(draw_round_seal(department_name=name, seal_name="行政许可专用章"))))
    for variant in ("electronic", "print"):
        pdf = client.get(f"{base}/pdf", params={"variant": variant}, headers=auth(key))
        assert pdf.status_code == 200, pdf.text
        (image,) = _pdf_images(pdf.content)
        assert _difference(image, ours) < 2.0 < _difference(image, chinese_only), variant
