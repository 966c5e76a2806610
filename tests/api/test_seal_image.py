"""An operator replaces a seal's drawn image with an uploaded PNG; bad images are refused."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from certsvc.crypto.ses import parse_signature
from certsvc.rendering.seals import draw_oval_seal
from certsvc.services.context import ServiceContext
from tests.conftest import auth, make_department, sample_request


def test_uploaded_png_becomes_the_seal_of_new_licences(
    client: TestClient, embedded: ServiceContext, operator_key: str, tmp_path: Path
) -> None:
    code, issuer_key, _ = make_department(embedded, algorithm="sm2")
    (seal,) = client.get(f"/api/v1/admin/departments/{code}/seals", headers=auth(operator_key)).json()
    uploaded = draw_oval_seal(department_name="测试部门", seal_name="合同专用章")
    answer = client.put(
        f"/api/v1/admin/seals/{seal['id']}/image", content=uploaded,
        headers={**auth(operator_key), "content-type": "image/png"},
    )
    assert answer.status_code == 200, answer.text

    identifier = client.post("/api/v1/certificates", json=sample_request(), headers=auth(issuer_key)).json()["identifier"]
    pdf = client.get(f"/api/v1/certificates/{identifier}/pdf", headers=auth(issuer_key)).content
    report = client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"}).json()
    assert report["verdict"] == "valid"
    assert "seal_data_valid" in {r["code"] for r in report["reasons"]}
    # The GB/T 38540 seal data was remade with the uploaded picture.
    ses = client.get(f"/api/v1/certificates/{identifier}/seal-signature", headers=auth(issuer_key)).content
    assert parse_signature(ses).seal.picture_data == uploaded
    # The uploaded oval (3:2, where the drawn seal was round) is the image the PDF shows.
    (tmp_path / "l.pdf").write_bytes(pdf)
    listing = subprocess.run(["pdfimages", "-list", str(tmp_path / "l.pdf")], capture_output=True, text=True, check=True)
    width, height = Image.open(io.BytesIO(uploaded)).size
    shapes = {
        round(int(cols[3]) / int(cols[4]), 2)
        for cols in (line.split() for line in listing.stdout.splitlines()[2:])
        if cols[2] == "image"
    }
    assert shapes == {round(width / height, 2)}


def test_bad_images_are_refused_with_every_problem(client: TestClient, embedded: ServiceContext, operator_key: str) -> None:
    code, _, _ = make_department(embedded)
    (seal,) = client.get(f"/api/v1/admin/departments/{code}/seals", headers=auth(operator_key)).json()
    opaque = io.BytesIO()
    Image.new("RGB", (600, 600), "white").save(opaque, format="PNG")
    url = f"/api/v1/admin/seals/{seal['id']}/image"
    refused = client.put(url, content=opaque.getvalue(), headers={**auth(operator_key), "content-type": "image/png"})
    assert refused.status_code == 422 and refused.json()["code"] == "validation_failed"
    assert refused.json()["errors"]
    not_png = client.put(url, content=b"GIF89a....", headers={**auth(operator_key), "content-type": "image/png"})
    assert not_png.status_code == 422
    assert client.put("/api/v1/admin/seals/987654/image", content=draw_oval_seal(department_name="测试部门"),
                      headers={**auth(operator_key), "content-type": "image/png"}).status_code == 404
