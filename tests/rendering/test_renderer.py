from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from certsvc.domain.layout import SealBox
from certsvc.errors import ValidationFailedError
from certsvc.rendering.metadata import read_licence_metadata
from certsvc.rendering.renderer import LicenceContent, RenderedLicence, render_licence
from certsvc.rendering.templates import TemplateRegistry

pytestmark = pytest.mark.db_independent

FOOD = "food-business-licence"
poppler = pytest.mark.skipif(shutil.which("pdffonts") is None, reason="poppler-utils not installed")


def _run(tool: str, *args: str, pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "licence.pdf"
    path.write_bytes(pdf)
    return subprocess.run(
        [tool, *args, str(path)], check=True, capture_output=True, text=True
    ).stdout


def test_render_is_deterministic(
    registry: TemplateRegistry, seal_png: bytes, make_content: Callable[..., LicenceContent]
) -> None:
    template = registry.get(FOOD)
    first = render_licence(template, make_content(template), seal_image_png=seal_png)
    second = render_licence(template, make_content(template), seal_image_png=seal_png)
    assert first == second
    assert first.electronic_pdf.startswith(b"%PDF-") and first.electronic_pdf != first.print_pdf


def test_seal_box_matches_template(
    rendered: dict[str, tuple[LicenceContent, RenderedLicence]],
) -> None:
    box = rendered[FOOD][1].seal_box
    assert isinstance(box, SealBox) and box.page_index == 0
    # 42 mm seal centred at (162, 259) mm from the top-left of an A4 page.
    assert box.width == pytest.approx(42 * 72 / 25.4, abs=0.05)
    assert (box.x1 + box.x2) / 2 == pytest.approx(162 * 72 / 25.4, abs=0.05)
    assert (box.y1 + box.y2) / 2 == pytest.approx(841.89 - 259 * 72 / 25.4, abs=0.05)


@poppler
@pytest.mark.interop
def test_all_fonts_embedded_subsets(
    rendered: dict[str, tuple[LicenceContent, RenderedLicence]], tmp_path: Path
) -> None:
    for slug, (_, result) in rendered.items():
        for pdf in (result.electronic_pdf, result.print_pdf):
            rows = _run("pdffonts", pdf=pdf, tmp_path=tmp_path).splitlines()[2:]
            assert rows, slug
            for row in rows:
                cols = row.split()
                # name type [type2] encoding emb sub uni id gen: emb/sub are the 5th/4th from the end.
                assert cols[-5] == "yes" and cols[-4] == "yes", (
                    f"{slug}: not an embedded subset: {row}"
                )
                assert "TrueType" in row, row


@poppler
@pytest.mark.interop
def test_text_layer_has_holder_and_values(
    rendered: dict[str, tuple[LicenceContent, RenderedLicence]], tmp_path: Path
) -> None:
    content, result = rendered[FOOD]

    def text_of(pdf: bytes) -> str:
        _run("pdftotext", "-enc", "UTF-8", pdf=pdf, tmp_path=tmp_path)
        return "".join((tmp_path / "licence.txt").read_text(encoding="utf-8").split())

    compact = text_of(result.electronic_pdf)
    assert content.holder_name in compact
    assert "食品经营许可证" in compact
    assert "JY21525020123456" in compact
    assert "2031年3月14日" in compact
    assert content.identifier in compact
    assert "打印件" not in compact
    assert "打印件" in text_of(result.print_pdf)


def _page_image(pdf: bytes, tmp_path: Path, dpi: int = 200, page: int = 1) -> Image.Image:
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        [
            "pdftoppm",
            "-r",
            str(dpi),
            "-f",
            str(page),
            "-l",
            str(page),
            "-png",
            "-singlefile",
            str(path),
            str(tmp_path / "page"),
        ],
        check=True,
    )
    return Image.open(tmp_path / "page.png").convert("RGB")


@poppler
@pytest.mark.interop
def test_qr_code_decodes_to_verify_url(
    rendered: dict[str, tuple[LicenceContent, RenderedLicence]], tmp_path: Path
) -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    for slug, (content, result) in rendered.items():
        for variant, pdf in (("electronic", result.electronic_pdf), ("print", result.print_pdf)):
            found = []
            for image in _all_pages(pdf, tmp_path / slug / variant):
                codes = zxingcpp.read_barcodes(image)
                found.extend(c for c in codes if c.format == zxingcpp.BarcodeFormat.QRCode)
            assert [c.text for c in found] == [content.verify_url], (slug, variant)
            assert found[0].ec_level == "M"  # exactly M, never boosted


def _all_pages(pdf: bytes, folder: Path, dpi: int = 200) -> list[Image.Image]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "doc.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(path), str(folder / "p")], check=True)
    return [Image.open(p).convert("RGB") for p in sorted(folder.glob("p*.png"))]


@poppler
@pytest.mark.interop
def test_only_print_copy_has_the_seal(
    rendered: dict[str, tuple[LicenceContent, RenderedLicence]], tmp_path: Path
) -> None:
    _, result = rendered[FOOD]
    box = result.seal_box
    dpi = 100
    scale = dpi / 72

    def red_pixels(pdf: bytes) -> int:
        image = _page_image(pdf, tmp_path, dpi=dpi, page=box.page_index + 1)
        top = image.height - box.y2 * scale
        crop = image.crop(
            (int(box.x1 * scale), int(top), int(box.x2 * scale), int(top + box.height * scale))
        )
        return sum(
            1 for x in range(crop.width) for y in range(crop.height) if _red(crop.getpixel((x, y)))
        )

    assert red_pixels(result.electronic_pdf) == 0  # the box is left empty for the signature
    assert red_pixels(result.print_pdf) > 500
    images = _run("pdfimages", "-list", pdf=result.print_pdf, tmp_path=tmp_path)
    assert "smask" in images  # the seal keeps its transparency
    assert (
        "image"
        not in _run("pdfimages", "-list", pdf=result.electronic_pdf, tmp_path=tmp_path).split(
            "\n", 2
        )[2]
    )


def _red(p: tuple[int, int, int]) -> bool:
    return p[0] > 180 and p[1] < 90 and p[2] < 100


def test_document_info(rendered: dict[str, tuple[LicenceContent, RenderedLicence]]) -> None:
    _, result = rendered[FOOD]
    pdf = result.electronic_pdf
    # Creation date comes from issued_on, not the wall clock.
    assert b"D:20260315000000+08'00'" in pdf


def test_metadata_round_trip(rendered: dict[str, tuple[LicenceContent, RenderedLicence]]) -> None:
    content, result = rendered[FOOD]
    meta = read_licence_metadata(result.electronic_pdf)
    assert meta is not None
    assert meta["identifier"] == content.identifier
    assert meta["licence_name"] == "食品经营许可证"
    assert meta["type_code"] == "11100000MB0143028R001"
    assert meta["licence_number"] == "JY21525020123456"
    assert meta["holder_name"] == content.holder_name
    assert meta["holder_code"] == content.holder_id and meta["holder_code_type"] == "001"
    assert (
        meta["issuer_name"] == content.department_name
        and meta["issuer_code"] == content.department_code
    )
    assert (meta["issued_on"], meta["valid_from"], meta["valid_until"]) == (
        "2026-03-15",
        "2026-03-15",
        "2031-03-14",
    )
    assert read_licence_metadata(result.print_pdf) == meta
    assert read_licence_metadata(b"%PDF-1.4 nothing here") is None


def test_extra_metadata_is_written(
    registry: TemplateRegistry, seal_png: bytes, make_content: Callable[..., LicenceContent]
) -> None:
    template = registry.get(FOOD)
    content = make_content(
        template,
        holder_id_type="resident_id",
        holder_id="152502199007180514",
        area_code="320213",
    )
    meta = read_licence_metadata(
        render_licence(template, content, seal_image_png=seal_png).electronic_pdf
    )
    assert meta is not None and meta["area_code"] == "320213" and meta["holder_code_type"] == "111"


@poppler
@pytest.mark.interop
def test_metadata_in_info_dictionary(
    rendered: dict[str, tuple[LicenceContent, RenderedLicence]], tmp_path: Path
) -> None:
    content, result = rendered[FOOD]
    info = _run("pdfinfo", "-custom", pdf=result.electronic_pdf, tmp_path=tmp_path)
    assert "DZZZ_identifier" in info and content.identifier in info
    meta = _run("pdfinfo", "-meta", pdf=result.electronic_pdf, tmp_path=tmp_path)
    assert "dzzz:holder_code" in meta


def test_holder_name_too_long_is_refused(
    registry: TemplateRegistry, seal_png: bytes, make_content: Callable[..., LicenceContent]
) -> None:
    template = registry.get(FOOD)
    content = make_content(template, holder_name="无锡市梁溪区味之源餐饮管理有限公司" * 4)
    with pytest.raises(ValidationFailedError) as info:
        render_licence(template, content, seal_image_png=seal_png)
    assert info.value.details == [
        {"field": "holder.name", "problem": "经营者名称 is too long for its box (2 line(s))"}
    ]


def test_holder_name_without_glyph_is_refused(
    registry: TemplateRegistry, seal_png: bytes, make_content: Callable[..., LicenceContent]
) -> None:
    template = registry.get(FOOD)
    # U+20023 is in no installed face, the fallback included
    content = make_content(template, holder_name="无锡市\U00020023记餐饮有限公司")
    with pytest.raises(ValidationFailedError) as info:
        render_licence(template, content, seal_image_png=seal_png)
    assert info.value.details[0]["field"] == "holder.name"
    assert "\U00020023" in info.value.details[0]["problem"]


def test_long_value_wraps_inside_its_box(
    registry: TemplateRegistry,
    seal_png: bytes,
    make_content: Callable[..., LicenceContent],
    tmp_path: Path,
) -> None:
    template = registry.get(FOOD)
    long_name = "无锡市梁溪区味之源餐饮管理有限公司崇安寺步行街第二分店（连锁经营）"
    result = render_licence(
        template, make_content(template, holder_name=long_name), seal_image_png=seal_png
    )
    if shutil.which("pdftotext"):
        # -bbox gives every word's box: all of the name must lie left of the value box's edge.
        path = tmp_path / "l.pdf"
        path.write_bytes(result.electronic_pdf)
        out = subprocess.run(
            ["pdftotext", "-bbox", str(path), "-"], check=True, capture_output=True, text=True
        ).stdout
        right_edge_pt = (24 + 50 + 112) * 72 / 25.4
        words = [
            line
            for line in out.splitlines()
            if "<word" in line and ("分店" in line or "连锁" in line)
        ]
        assert words
        for line in words:
            x_max = float(line.split('xMax="')[1].split('"')[0])
            assert x_max <= right_edge_pt + 0.5


def test_image_payload_is_png(seal_png: bytes) -> None:
    assert Image.open(io.BytesIO(seal_png)).format == "PNG"


# --- layouts of the other templates ------------------------------------------------------------
def test_decision_letter_flows_to_a_second_page_with_seal_on_the_last(
    rendered: dict[str, tuple[LicenceContent, RenderedLicence]],
    registry: TemplateRegistry,
    seal_png: bytes,
    make_content: Callable[..., LicenceContent],
) -> None:
    _, result = rendered["administrative-licensing-decision"]
    assert len(re.findall(rb"/Type /Page[^s]", result.electronic_pdf)) == 2
    assert result.seal_box.page_index == 1
    template = registry.get("administrative-licensing-decision")
    short = make_content(
        template,
        fields={
            **template.validate_fields(template.load_sample()["fields"]),
            "decision_text": "经审查，你单位的申请符合法定条件，决定准予许可。\n特此决定。",
        },
    )
    assert render_licence(template, short, seal_image_png=seal_png).seal_box.page_index == 0


def test_decision_letter_too_long_is_refused(
    registry: TemplateRegistry, seal_png: bytes, make_content: Callable[..., LicenceContent]
) -> None:
    template = registry.get("administrative-licensing-decision")
    fields = template.validate_fields(template.load_sample()["fields"])
    content = make_content(template, fields={**fields, "decision_text": "本局决定准予许可。" * 440})
    with pytest.raises(ValidationFailedError) as info:
        render_licence(template, content, seal_image_png=seal_png)
    assert (
        info.value.details[0]["field"] == "decision_text"
        and "pages" in info.value.details[0]["problem"]
    )


def test_table_field_rows_and_cells_are_checked(registry: TemplateRegistry) -> None:
    template = registry.get("construction-planning-permit")
    fields = template.load_sample()["fields"]
    normalised = template.validate_fields(fields)
    assert normalised["buildings"][0]["height"] == "23.90"  # numbers keep the digits written
    bad = {
        **fields,
        "buildings": [
            *fields["buildings"],
            {
                "name": "门卫",
                "area": "-3",
                "floors_above": 1,
                "floors_below": 0,
                "height": "3",
                "colour": "x",
            },
        ]
        * 2,
    }
    with pytest.raises(ValidationFailedError) as info:
        template.validate_fields(bad)
    problems = {d["field"]: d["problem"] for d in info.value.details}
    assert "at most 6" in problems["buildings"]
    assert "at least 0" in problems["buildings[5].area"]
    assert problems["buildings[5].colour"] == "unknown column"


def test_image_field_is_checked_and_drawn(
    registry: TemplateRegistry,
    tmp_path: Path,
    rendered: dict[str, tuple[LicenceContent, RenderedLicence]],
) -> None:
    template = registry.get("special-operations-certificate")
    fields = template.load_sample()["fields"]
    assert base64.b64decode(fields["photo"]) == (template.directory / "photo.png").read_bytes()
    with pytest.raises(ValidationFailedError) as info:
        template.validate_fields(
            {**fields, "photo": base64.b64encode(b"GIF89a not a photo").decode()}
        )
    assert info.value.details[0]["field"] == "photo"
    if shutil.which("pdfimages"):
        listing = _run(
            "pdfimages", "-list", pdf=rendered[template.slug][1].electronic_pdf, tmp_path=tmp_path
        )
        assert " 250   350 " in listing  # the photo, at its own resolution


def test_concurrent_renders_match_serial(
    registry: TemplateRegistry,
    seal_png: bytes,
    rendered: dict[str, tuple[LicenceContent, RenderedLicence]],
) -> None:
    # Fonts and image XObjects are shared process-wide; per-document font state must not leak
    # between threads (the batch engine renders in a pool).
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(t, content) for t in registry.all() for content in [rendered[t.slug][0]]] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(
            pool.map(lambda job: render_licence(job[0], job[1], seal_image_png=seal_png), jobs)
        )
    for (template, _), result in zip(jobs, results, strict=True):
        assert result == rendered[template.slug][1], template.slug


def test_metadata_reader_is_robust(
    rendered: dict[str, tuple[LicenceContent, RenderedLicence]],
) -> None:
    import time

    pdf = rendered[FOOD][1].electronic_pdf
    # Hostile inputs: unclosed tags by the million, an entity bomb, garbage XML.
    start = time.perf_counter()
    assert read_licence_metadata(b"<x:xmpmeta" * 1_000_000) is None
    assert time.perf_counter() - start < 2.0
    bomb = (
        b'<x:xmpmeta><!DOCTYPE x [<!ENTITY a "aaaa">]><rdf:RDF xmlns:rdf="r">'
        b'<d xmlns:dzzz="https://certsvc.cn/ns/gbt36903/1.0/"><dzzz:identifier>&a;</dzzz:identifier></d>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    assert read_licence_metadata(bomb) is None
    assert (
        read_licence_metadata(b"<x:xmpmeta>https://certsvc.cn/ns/gbt36903/1.0/<</x:xmpmeta>")
        is None
    )
    # A newer packet appended by an incremental update wins.
    newer = pdf + pdf[pdf.index(b"<x:xmpmeta") : pdf.index(b"</x:xmpmeta>") + 12].replace(
        b"<dzzz:holder_name>", b"<dzzz:holder_name>NEW"
    )
    meta = read_licence_metadata(newer)
    assert meta is not None and meta["holder_name"].startswith("NEW")
