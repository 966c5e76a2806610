"""The OFD of a bilingual department: Mongolian glyphs drawn where the PDF draws them, and the
Mongolian text recoverable from the file (ours and easyofd's reading)."""

from __future__ import annotations

import base64
import io
import re
import zipfile

import defusedxml.ElementTree as SafeET
import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageStat

from certsvc.rendering.bilingual_seals import draw_bilingual_round_seal
from certsvc.rendering.mongolian import FVS, MVS, NNBSP, shape_mongolian
from certsvc.rendering.ofd import render_ofd
from certsvc.rendering.renderer import render_licence
from certsvc.rendering.templates import TemplateRegistry
from tests.rendering.conftest import content_for
from tests.rendering.test_bilingual_templates import BILINGUAL, NAME, NAME_MN

pytestmark = pytest.mark.db_independent

NS = {"ofd": "http://www.ofdspec.org/2016"}
TEXT_OBJECT = f"{{{NS['ofd']}}}TextObject"
PATH_OBJECT = f"{{{NS['ofd']}}}PathObject"
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def _package(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _pages(files: dict[str, bytes]) -> list[object]:
    names = sorted(n for n in files if n.endswith("/Content.xml"))
    return [SafeET.fromstring(files[n]) for n in names]


def _glyph_paths(page: object) -> list[object]:
    """Filled paths with curves: the Mongolian glyph outlines (rules, frames and QR are straight)."""
    return [
        p
        for p in page.iter(PATH_OBJECT)  # type: ignore[attr-defined]
        if p.get("Fill") == "true" and " Q " in f" {p.findtext('ofd:AbbreviatedData', namespaces=NS)} "
    ]


def _hidden_texts(page: object) -> list[object]:
    return [t for t in page.iter(TEXT_OBJECT) if t.get("Fill") == "false"]  # type: ignore[attr-defined]


def _x_extent(path: object) -> tuple[float, float]:
    numbers = [float(n) for n in _NUMBER.findall(path.findtext("ofd:AbbreviatedData", namespaces=NS))]  # type: ignore[attr-defined]
    xs = numbers[0::2]
    return min(xs), max(xs)


@pytest.fixture(scope="module")
def bilingual_ofds(registry: TemplateRegistry) -> dict[str, tuple[bytes, bytes]]:
    """Per bilingual template: its OFD and its electronic PDF, for the same licence."""
    seal = draw_bilingual_round_seal(department_name=NAME, department_name_mn=NAME_MN)
    out = {}
    for slug in BILINGUAL:
        template = registry.get(slug)
        content = content_for(template, department_name=NAME, department_name_mn=NAME_MN)
        out[slug] = (render_ofd(template, content).data, render_licence(template, content, seal_image_png=seal).electronic_pdf)
    return out


def test_the_mongolian_text_layer_gives_back_the_name_in_an_embedded_mongolian_font(
    bilingual_ofds: dict[str, tuple[bytes, bytes]],
) -> None:
    for slug, (ofd, _) in bilingual_ofds.items():
        files = _package(ofd)
        hidden = [t for page in _pages(files) for t in _hidden_texts(page)]
        lines = [t.findtext("ofd:TextCode", namespaces=NS) for t in hidden]
        # The department's name is printed once per Mongolian item, wrapped at word spaces.
        assert NAME_MN in {" ".join(lines[i:j]) for i in range(len(lines)) for j in range(i + 1, len(lines) + 1)}, (slug, lines)
        public = SafeET.fromstring(files["Doc_0/PublicRes.xml"])
        font_files = {f.get("ID"): f.findtext("ofd:FontFile", namespaces=NS) for f in public.iter(f"{{{NS['ofd']}}}Font")}
        for text in hidden:
            font = TTFont(io.BytesIO(files[f"Doc_0/Res/{font_files[text.get('Font')]}"]))
            assert "Mongolian" in str(font["name"].getBestFamilyName())
            letters = {ord(ch) for ch in text.findtext("ofd:TextCode", namespaces=NS) if ch not in (" ", MVS, NNBSP, *FVS)}
            assert letters <= set(font.getBestCmap()), slug  # extractable as letters, not glyph codes


def test_the_shaped_glyphs_are_drawn_as_paths_where_the_pdf_draws_them(
    bilingual_ofds: dict[str, tuple[bytes, bytes]],
) -> None:
    pymupdf = pytest.importorskip("pymupdf")
    for slug, (ofd, pdf) in bilingual_ofds.items():
        pages = _pages(_package(ofd))
        with pymupdf.open(stream=pdf, filetype="pdf") as doc:
            for number, page in enumerate(doc):
                scale = 210 / page.rect.width  # both templates are A4 portrait: points → mm
                pdf_lines = []
                for block in page.get_text("rawdict")["blocks"]:
                    for line in block.get("lines", []):
                        for span in line["spans"]:
                            if "Mongolian" in span["font"]:
                                x0, _, x1, _ = span["bbox"]
                                pdf_lines.append((x0 * scale, x1 * scale, span["origin"][1] * scale))
                paths, hidden = _glyph_paths(pages[number]), _hidden_texts(pages[number])
                assert len(paths) == len(hidden), slug  # one glyph path and one text layer per line
                for path, text in zip(paths, hidden, strict=True):
                    assert path.get("Stroke") == "false"
                    left, right = _x_extent(path)
                    baseline = float(text.get("Boundary").split()[1]) + float(text.find("ofd:TextCode", NS).get("Y"))
                    match = [
                        (x0, x1)
                        for x0, x1, y in pdf_lines
                        if abs(y - baseline) < 0.3 and x0 - 0.5 < left and right < x1 + 0.5
                    ]
                    assert match, f"{slug}: glyphs at {left:.1f}–{right:.1f} mm on baseline {baseline:.1f} mm are not in the PDF"
                    # The outline spans the shaped line, not isolated letters (which are wider).
                    expected = shape_mongolian(text.findtext("ofd:TextCode", namespaces=NS)).width(
                        float(text.get("Size")) * 72 / 25.4
                    ) * 25.4 / 72
                    assert right - left <= expected + 0.05, slug


def test_a_chinese_only_department_gets_no_mongolian_in_its_ofd(registry: TemplateRegistry) -> None:
    template = registry.get("food-business-licence")
    files = _package(render_ofd(template, content_for(template, department_name=NAME)).data)
    for page in _pages(files):
        assert not _glyph_paths(page) and not _hidden_texts(page)
    assert b"Mongolian" not in b"".join(v for k, v in files.items() if k.endswith(".ttf"))


@pytest.mark.interop
@pytest.mark.slow
def test_easyofd_reads_the_mongolian_text(bilingual_ofds: dict[str, tuple[bytes, bytes]]) -> None:
    """easyofd (an OFD reader nobody here wrote) parses the file and finds the Mongolian lines."""
    pytest.importorskip("easyofd")
    from easyofd.ofd import OFD
    from loguru import logger

    logger.disable("easyofd")
    for slug, (ofd, _) in bilingual_ofds.items():
        reader = OFD()
        reader.read(base64.b64encode(ofd).decode(), save_xml=False)
        try:
            pages = reader.data[0]["page_info"]
            texts = [cell["text"] for page in pages.values() for cell in page["text_list"]]
            curves = [line for page in pages.values() for line in page["line_list"] if " Q " in line["AbbreviatedData"]]
        finally:
            reader.del_data()
        mongolian = [t for t in texts if any("\u1820" <= ch <= "\u18aa" for ch in t)]
        assert " ".join(mongolian).count(NAME_MN) >= 1, (slug, mongolian)
        assert curves, slug  # it reads the glyph outlines as paths


def _ink_of_path(data: str, origin_mm: tuple[float, float], size: tuple[int, int], px_per_mm: float) -> Image.Image:
    """A path's filled area in a ``size`` raster whose top-left is ``origin_mm``, drawn by this
    test's own flattening of the OFD path syntax (even-odd: a glyph's counters are holes)."""
    x0, y0 = origin_mm
    ink = Image.new("1", size, 0)
    tokens = data.split()
    contours: list[list[tuple[float, float]]] = []
    i = 0
    while i < len(tokens):
        op = tokens[i]
        if op == "M":
            contours.append([(float(tokens[i + 1]), float(tokens[i + 2]))])
            i += 3
        elif op == "L":
            contours[-1].append((float(tokens[i + 1]), float(tokens[i + 2])))
            i += 3
        elif op == "Q":
            (sx, sy), cx, cy, ex, ey = contours[-1][-1], *(float(t) for t in tokens[i + 1 : i + 5])
            for step in range(1, 9):
                t = step / 8
                a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t * t
                contours[-1].append((a * sx + b * cx + c * ex, a * sy + b * cy + c * ey))
            i += 5
        else:
            assert op == "C", f"unexpected path operator {op!r}"
            i += 1
    for contour in contours:
        layer = Image.new("1", size, 0)
        ImageDraw.Draw(layer).polygon([((x - x0) * px_per_mm, (y - y0) * px_per_mm) for x, y in contour], fill=1)
        ink = ImageChops.logical_xor(ink, layer)
    return ink


def _share_inside(ink: Image.Image, other: Image.Image) -> float:
    """Share of ``ink``'s pixels that lie on ``other`` grown by one pixel (anti-aliasing)."""
    grown = other.convert("L").filter(ImageFilter.MaxFilter(3)).convert("1")
    inside = ImageStat.Stat(ImageChops.logical_and(ink, grown).convert("L")).sum[0]
    total = ImageStat.Stat(ink.convert("L")).sum[0]
    return inside / total if total else 0.0


def test_the_ofd_glyph_outlines_have_the_shapes_the_pdf_shows(bilingual_ofds: dict[str, tuple[bytes, bytes]]) -> None:
    """Raster comparison: the OFD's Mongolian paths against MuPDF's rendering of the glyphs of
    the PDF's embedded font, line by line (a flipped, mirrored or shifted outline does not fit)."""
    pymupdf = pytest.importorskip("pymupdf")
    px_per_mm = 16.0
    matrix = pymupdf.Matrix(px_per_mm * 25.4 / 72, px_per_mm * 25.4 / 72)
    for slug, (ofd, pdf) in bilingual_ofds.items():
        pages = _pages(_package(ofd))
        with pymupdf.open(stream=pdf, filetype="pdf") as doc:
            for number, page in enumerate(pages):
                for path in _glyph_paths(page):
                    data = path.findtext("ofd:AbbreviatedData", namespaces=NS)
                    numbers = [float(n) for n in _NUMBER.findall(data)]
                    xs, ys = numbers[0::2], numbers[1::2]
                    clip = pymupdf.Rect(min(xs) - 1, min(ys) - 1, max(xs) + 1, max(ys) + 1) * (72 / 25.4)
                    pix = doc[number].get_pixmap(matrix=matrix, clip=clip, colorspace=pymupdf.csGRAY, alpha=False)
                    theirs = Image.frombytes("L", (pix.width, pix.height), pix.samples).point(lambda v: 255 if v < 128 else 0).convert("1")
                    ours = _ink_of_path(data, (pix.x / px_per_mm, pix.y / px_per_mm), theirs.size, px_per_mm)
                    assert _share_inside(ours, theirs) > 0.95 and _share_inside(theirs, ours) > 0.95, f"{slug} p.{number + 1}"
