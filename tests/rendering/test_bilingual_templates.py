"""Bilingual layouts (``bilingual.json``): loading, checks, the choice, text layer and looks."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from certsvc.errors import ConfigurationError, ValidationFailedError
from certsvc.rendering.bilingual_seals import draw_bilingual_round_seal
from certsvc.rendering.renderer import render_licence
from certsvc.rendering.templates import TemplateRegistry
from tests.rendering.conftest import TEMPLATES_DIR, content_for

pytestmark = pytest.mark.db_independent

# 内蒙古自治区人民政府 as the region's government writes it (mgl.nmg.gov.cn; see
# services/demo_departments.py for the source).
NAME = "内蒙古自治区人民政府"
NAME_MN = "ᠥᠪᠥᠷ ᠮᠣᠩᠭᠤᠯ ᠤᠨ ᠥᠪᠡᠷᠲᠡᠭᠡᠨ ᠵᠠᠰᠠᠬᠤ ᠣᠷᠣᠨ ᠤ ᠠᠷᠠᠳ ᠤᠨ ᠵᠠᠰᠠᠭ ᠤᠨ ᠣᠷᠳᠣᠨ"
BILINGUAL = ("food-business-licence", "administrative-licensing-decision")
REFERENCE_DIR = Path(__file__).parent / "reference"
DPI, TOLERANCE = 50, 0.15  # as tests/rendering/test_visual.py

poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")


@pytest.fixture(scope="module")
def bilingual_seal() -> bytes:
    return draw_bilingual_round_seal(department_name=NAME, department_name_mn=NAME_MN)


def _text(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "l.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True, text=True)
    return [line.strip() for line in out.stdout.splitlines() if line.strip()]


def test_the_food_licence_and_the_decision_ship_bilingual_layouts(registry: TemplateRegistry) -> None:
    for slug in BILINGUAL:
        template = registry.get(slug)
        assert template.bilingual is not None, slug
        assert template.bilingual.fields == template.fields
        assert any(item.kind == "mongolian" for item in template.bilingual.items)
    assert registry.get("drug-business-licence").bilingual is None


@poppler
@pytest.mark.parametrize("slug", BILINGUAL)
def test_a_mongolian_name_selects_the_bilingual_layout_mongolian_above_chinese(
    registry: TemplateRegistry, bilingual_seal: bytes, slug: str, tmp_path: Path
) -> None:
    template = registry.get(slug)
    bilingual = render_licence(
        template, content_for(template, department_name=NAME, department_name_mn=NAME_MN), seal_image_png=bilingual_seal
    )
    lines = _text(bilingual.electronic_pdf, tmp_path)
    mongolian = [i for i, line in enumerate(lines) if line[0] >= "\u1800" and line[0] <= "\u18af"]
    assert mongolian, lines
    joined = " ".join(lines[i] for i in mongolian)
    assert NAME_MN.split(" ")[0] in joined and NAME_MN.split(" ")[-1] in joined
    chinese = next(i for i, line in enumerate(lines) if NAME in line and i > mongolian[0])
    assert mongolian[0] < chinese  # Art. 3: Mongolian above Chinese

    chinese_only = render_licence(template, content_for(template, department_name=NAME), seal_image_png=bilingual_seal)
    assert not any("\u1800" <= ch <= "\u18af" for ch in "".join(_text(chinese_only.electronic_pdf, tmp_path)))


def test_a_mongolian_name_that_does_not_fit_is_refused_not_overflowed(
    registry: TemplateRegistry, bilingual_seal: bytes
) -> None:
    template = registry.get("food-business-licence")
    too_long = " ".join([NAME_MN] * 3)
    with pytest.raises(ValidationFailedError) as caught:
        render_licence(
            template, content_for(template, department_name=NAME, department_name_mn=too_long), seal_image_png=bilingual_seal
        )
    assert caught.value.details == [{"field": "department_name_mn", "problem": "too long for its box (2 line(s))"}]


def _copy_template(tmp_path: Path, slug: str = "food-business-licence") -> Path:
    folder = tmp_path / "templates" / slug
    shutil.copytree(TEMPLATES_DIR / slug, folder)
    return folder


def _edit(path: Path, change: object) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_bad_mongolian_in_a_layout_is_refused_at_load_with_every_problem(tmp_path: Path) -> None:
    folder = _copy_template(tmp_path)

    def spoil(data: dict) -> None:  # type: ignore[type-arg]
        items = data["layout"]["items"]
        items.append({"kind": "mongolian", "text": "Xilin ᠭᠣᠣᠯ", "x": 20, "y": 30})
        items.append({"kind": "mongolian", "field": "$department_name", "x": 20, "y": 35})
        items.append({"kind": "field", "field": "$department_name", "x": 20, "y": 40, "width": 50, "label_mn": "ᠭᠣᠣᠯ"})
        items.append({"kind": "field", "field": "$department_name_mn", "x": 20, "y": 45, "width": 50})

    _edit(folder / "bilingual.json", spoil)
    with pytest.raises(ConfigurationError) as caught:
        TemplateRegistry.load(folder.parent)
    problems = " | ".join(d["problem"] for d in caught.value.details)
    assert "not traditional Mongolian script" in problems and "U+0058" in problems
    assert "a mongolian item can only print '$department_name_mn'" in problems
    assert "label_mn needs label_mn_width" in problems
    assert "can only be drawn by a mongolian item" in problems


def test_a_bilingual_layout_must_declare_the_same_licence(tmp_path: Path) -> None:
    folder = _copy_template(tmp_path)
    _edit(folder / "bilingual.json", lambda data: data["fields"][1].update(max_length=31))
    with pytest.raises(ConfigurationError, match="differs in fields"):
        TemplateRegistry.load(folder.parent)


@poppler
def test_labels_can_be_mongolian_before_chinese(tmp_path: Path, bilingual_seal: bytes) -> None:
    folder = _copy_template(tmp_path)

    def label(data: dict) -> None:  # type: ignore[type-arg]
        for item in data["layout"]["items"]:
            if item.get("field") == "issuer":
                item.update(label_mn="ᠭᠣᠣᠯ", label_mn_width=14)

    _edit(folder / "bilingual.json", label)
    template = TemplateRegistry.load(folder.parent).get("food-business-licence")
    rendered = render_licence(
        template, content_for(template, department_name=NAME, department_name_mn=NAME_MN), seal_image_png=bilingual_seal
    )
    line = next(line for line in _text(rendered.electronic_pdf, tmp_path) if "ᠭᠣᠣᠯ" in line)
    assert line.startswith("ᠭᠣᠣᠯ") and "签" in line  # Mongolian label first, then the Chinese one


@pytest.mark.interop
@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")
@pytest.mark.parametrize("slug", BILINGUAL)
def test_bilingual_layouts_match_reference_images(
    registry: TemplateRegistry, bilingual_seal: bytes, slug: str, tmp_path: Path
) -> None:
    """Regenerate with CERTSVC_UPDATE_REFERENCE=1 and look at the images before committing."""
    template = registry.get(slug)
    pdf = render_licence(
        template, content_for(template, department_name=NAME, department_name_mn=NAME_MN), seal_image_png=bilingual_seal
    ).print_pdf
    (tmp_path / "doc.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(DPI), "-png", str(tmp_path / "doc.pdf"), str(tmp_path / "p")], check=True)
    pages = sorted(tmp_path.glob("p*.png"))
    for number, page_path in enumerate(pages, start=1):
        page = Image.open(page_path).convert("RGB")
        reference = REFERENCE_DIR / f"{slug}-bilingual-{number}.png"
        if os.environ.get("CERTSVC_UPDATE_REFERENCE") == "1":
            page.save(reference, optimize=True)
            continue
        diff = ImageStat.Stat(ImageChops.difference(page, Image.open(reference).convert("RGB"))).mean
        assert sum(diff) / 3 < TOLERANCE, f"{reference.name}: mean difference {sum(diff) / 3:.3f}"


def test_a_canvas_of_another_format_gets_the_shaped_run_as_a_value(registry: TemplateRegistry) -> None:
    """The seam an OFD recorder uses: shaped glyphs as a plain value, not PDF operators."""
    from reportlab.lib.colors import black

    from certsvc.rendering.bilingual_layout import draw_mongolian_line
    from certsvc.rendering.mongolian import ShapedRun

    received: list[tuple[ShapedRun, float, float, float, str]] = []

    class Recorder:
        def drawShapedRun(self, run: ShapedRun, x: float, y: float, size: float, align: str, color: object) -> None:
            received.append((run, x, y, size, align))

    draw_mongolian_line(Recorder(), NAME_MN, x_pt=10, baseline_pt=20, size=9, align="left", color=black)  # type: ignore[arg-type]
    (run, x, y, size, align), = received
    assert run.text == NAME_MN and run.glyphs[0].name.endswith(".ini") and (x, y, size, align) == (10, 20, 9, "left")
