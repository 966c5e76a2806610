"""The OFD writer: package layout, GB/T 36903 metadata, embedded fonts, same marks as the PDF."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import date

import defusedxml.ElementTree as SafeET
import pytest
from fontTools.ttLib import TTFont

from certsvc.rendering.ofd import GBT36903_NAMES, OPEN_ENDED, render_ofd
from certsvc.rendering.renderer import LicenceContent, render_licence
from certsvc.rendering.templates import MM, TemplateRegistry

pytestmark = pytest.mark.db_independent

NS = {"ofd": "http://www.ofdspec.org/2016"}


def _package(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def ofds(registry: TemplateRegistry) -> dict[str, tuple[LicenceContent, bytes]]:
    from tests.rendering.conftest import content_for

    out = {}
    for template in registry.all():
        content = content_for(template, area_code="152500")
        out[template.slug] = (content, render_ofd(template, content).data)
    return out


def test_package_has_the_gbt33190_layout(ofds: dict[str, tuple[LicenceContent, bytes]]) -> None:
    for slug, (_, data) in ofds.items():
        files = _package(data)
        root = SafeET.fromstring(files["OFD.xml"])
        assert root.findtext("ofd:DocBody/ofd:DocRoot", namespaces=NS) == "Doc_0/Document.xml", slug
        document = SafeET.fromstring(files["Doc_0/Document.xml"])
        assert document.findtext("ofd:CommonData/ofd:PublicRes", namespaces=NS) == "PublicRes.xml"
        assert document.findtext("ofd:CommonData/ofd:DocumentRes", namespaces=NS) == "DocumentRes.xml"
        pages = document.findall("ofd:Pages/ofd:Page", NS)
        assert pages and all(f"Doc_0/{p.get('BaseLoc')}" in files for p in pages)
        ids = [int(e.get("ID")) for name, body in files.items() if name.endswith(".xml") for e in SafeET.fromstring(body).iter() if e.get("ID")]
        assert len(ids) == len(set(ids)), "object IDs are unique in the document"
        assert int(document.findtext("ofd:CommonData/ofd:MaxUnitID", namespaces=NS)) == max(ids)


def test_custom_datas_carry_the_gbt36903_metadata(ofds: dict[str, tuple[LicenceContent, bytes]]) -> None:
    content, data = ofds["food-business-licence"]
    root = SafeET.fromstring(_package(data)["OFD.xml"])
    custom = {e.get("Name"): e.text for e in root.findall("ofd:DocBody/ofd:DocInfo/ofd:CustomDatas/ofd:CustomData", NS)}
    assert custom["电子证照标识"] == content.identifier
    assert custom["持证主体"] == content.holder_name
    assert custom["持证主体代码"] == content.holder_id
    assert custom["持证主体代码类型"] == "001"
    assert custom["证照颁发机构"] == content.department_name
    assert custom["证照颁发机构代码"] == content.department_code
    assert custom["证照颁发日期"] == f"{content.issued_on:%Y%m%d}"
    assert custom["证照有效期截止日期"] == f"{content.valid_until:%Y%m%d}"
    assert custom["证照所属管辖属地编码"] == "152500"
    assert custom["证照版本号"] == "001"
    assert set(custom) <= {name for _, name in GBT36903_NAMES}


def test_open_ended_validity_is_written_as_changqi(registry: TemplateRegistry, make_content: Callable[..., LicenceContent]) -> None:
    template = registry.get("food-business-licence")
    data = render_ofd(template, make_content(template, valid_until=date(9999, 12, 31))).data
    root = SafeET.fromstring(_package(data)["OFD.xml"])
    end = root.find("ofd:DocBody/ofd:DocInfo/ofd:CustomDatas/ofd:CustomData[@Name='证照有效期截止日期']", NS)
    assert end is not None and end.text == OPEN_ENDED


def test_embedded_fonts_are_subsets_that_draw_every_character(ofds: dict[str, tuple[LicenceContent, bytes]]) -> None:
    for slug, (_, data) in ofds.items():
        files = _package(data)
        public = SafeET.fromstring(files["Doc_0/PublicRes.xml"])
        cmaps = {}
        for font in public.findall("ofd:Fonts/ofd:Font", NS):
            body = files[f"Doc_0/Res/{font.findtext('ofd:FontFile', namespaces=NS)}"]
            assert len(body) < 400_000, f"{slug}: a subset, not the whole CJK face"
            cmaps[font.get("ID")] = TTFont(io.BytesIO(body)).getBestCmap()
        for name, body in files.items():
            if not name.endswith("Content.xml"):
                continue
            for text in SafeET.fromstring(body).iter(f"{{{NS['ofd']}}}TextObject"):
                code = text.find("ofd:TextCode", NS)
                assert code is not None and code.text
                missing = [ch for ch in code.text if ord(ch) not in cmaps[text.get("Font")] and not ch.isspace()]
                assert not missing, f"{slug}: {missing}"
                deltas = code.get("DeltaX", "").split()
                assert len(deltas) == len(code.text) - 1


def test_rendering_is_deterministic_and_leaves_the_seal_box_like_the_pdf(
    registry: TemplateRegistry, make_content: Callable[..., LicenceContent], seal_png: bytes
) -> None:
    template = registry.get("special-operations-certificate")
    content = make_content(template)
    first, second = render_ofd(template, content), render_ofd(template, content)
    assert first.data == second.data
    pdf_box = render_licence(template, content, seal_image_png=seal_png).seal_box
    x, y, w, h = first.seal_box
    height_pt = template.page.height
    assert first.seal_page == pdf_box.page_index
    assert (round(x * MM, 2), round(height_pt - (y + h) * MM, 2)) == (pdf_box.x1, pdf_box.y1)
    assert (round(w * MM, 2), round(h * MM, 2)) == (round(pdf_box.width, 2), round(pdf_box.height, 2))
    files = _package(first.data)
    assert any(n.startswith("Doc_0/Res/image_") for n in files), "the holder's photo is embedded"
    assert not any("Signs" in n for n in files), "unsealed"


def test_multi_page_licence_has_one_content_per_page(ofds: dict[str, tuple[LicenceContent, bytes]]) -> None:
    files = _package(ofds["administrative-licensing-decision"][1])
    pages = sorted(n for n in files if n.endswith("Content.xml"))
    assert pages == ["Doc_0/Pages/Page_0/Content.xml", "Doc_0/Pages/Page_1/Content.xml"]


def test_the_qr_code_in_the_ofd_decodes_to_the_verify_url(ofds: dict[str, tuple[LicenceContent, bytes]]) -> None:
    """Draw the OFD's filled black paths (the QR modules) into an image and read it with zxing."""
    import re

    import zxingcpp
    from PIL import Image, ImageDraw

    content, data = ofds["food-business-licence"]
    page = SafeET.fromstring(_package(data)["Doc_0/Pages/Page_0/Content.xml"])
    scale = 20  # pixels per mm
    image = Image.new("L", (210 * scale, 297 * scale), 255)
    draw = ImageDraw.Draw(image)
    drawn = 0
    for path in page.iter(f"{{{NS['ofd']}}}PathObject"):
        fill = path.find("ofd:FillColor", NS)
        if path.get("Fill") != "true" or fill is None or fill.get("Value") != "0 0 0":
            continue
        for rect in re.findall(r"M ([\d.]+) ([\d.]+) L ([\d.]+) [\d.]+ L [\d.]+ ([\d.]+) L", path.findtext("ofd:AbbreviatedData", namespaces=NS) or ""):
            x1, y1, x2, y2 = (float(v) * scale for v in rect)
            draw.rectangle((x1, y1, x2, y2), fill=0)
            drawn += 1
    assert drawn > 50
    found = zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)
    assert [b.text for b in found] == [content.verify_url]
