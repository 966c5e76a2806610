"""Traditional Mongolian: checking names, HarfBuzz shaping, and the PDF text layer."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from reportlab.pdfgen.canvas import Canvas

from certsvc.rendering.fonts import font_name
from certsvc.rendering.mongolian import (
    glyph_contours,
    mongolian_text_problems,
    normalise_mongolian,
    shape_mongolian,
)
from certsvc.rendering.mongolian_pdf import _text_of, draw_mongolian

pytestmark = pytest.mark.db_independent

# Test words only (not claimed as official names): common words whose letters show every
# positional form.
SILI = "ᠰᠢᠯᠢ"  # s-i-l-i
GOOL = "ᠭᠣᠣᠯ"  # g-o-o-l
HOTA = "ᠬᠣᠲᠠ"  # q-o-t-a, "city"

poppler = pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")


# --- shaping ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("word", "names"),
    [
        (SILI, ("u1830.ini", "u1822.med", "u182F.med", "u1822.fin")),
        (GOOL, ("u182D.ini", "u1823.med", "u1823.med", "u182F.fin")),
        (HOTA, ("u182C.ini", "u1823.med", "u1832.med", "u1820.fin")),
        ("ᠠ", ("u1820",)),  # a lone letter is isolated
    ],
)
def test_letters_take_their_positional_forms(word: str, names: tuple[str, ...]) -> None:
    assert shape_mongolian(word).glyph_names == names


def test_the_same_letter_changes_form_by_position() -> None:
    # I (U+1822) is medial in the middle of ᠰᠢᠯᠢ and final at its end: two different glyphs.
    run = shape_mongolian(SILI)
    assert run.glyphs[1].glyph_id != run.glyphs[3].glyph_id


def test_variation_selectors_mvs_and_nnbsp_choose_forms() -> None:
    assert shape_mongolian("ᠨᠠ").glyph_names[0] == "u1828.ini"
    assert shape_mongolian("ᠨ\u180bᠠ").glyph_names[0] == "u1828.iniV1"  # FVS1: the dotted N
    assert shape_mongolian("ᠲᠠᠯᠠ").glyph_names[-1] == "u1820.fin"
    assert shape_mongolian("ᠲᠠᠯ\u180eᠠ").glyph_names[-1] == "u1820.finV1"  # MVS: the separated -a
    # A case suffix after NNBSP keeps its word-medial form; after a space it starts a word.
    assert shape_mongolian(GOOL + " ᠤᠨ").glyph_names[-2] == "u1824.ini"
    assert shape_mongolian(GOOL + "\u202fᠤᠨ").glyph_names[-2] == "u1824.med"


def test_shaped_run_is_a_plain_value_with_advances() -> None:
    run = shape_mongolian(SILI + " " + GOOL)
    assert run.units_per_em == 1000
    assert run.font_path.name == "NotoSansMongolian-Regular.ttf"
    assert [g.cluster for g in run.glyphs] == list(range(len(run.text)))
    assert run.width(10) == pytest.approx(run.advance_units / 100)
    xs = [x for _, x, _ in run.positions(10)]
    assert xs == sorted(xs) and xs[0] == 0


def test_glyph_outlines_are_closed_polygons() -> None:
    contours = glyph_contours(shape_mongolian(GOOL).glyphs[1].glyph_id)  # medial O has a counter
    assert len(contours) >= 2
    assert all(len(c) >= 3 for c in contours)


# --- checking names -----------------------------------------------------------------------------
def test_a_good_name_has_no_problems() -> None:
    assert mongolian_text_problems(normalise_mongolian(f"  {SILI}   ᠶᠢᠨ {GOOL} ")) == []
    assert normalise_mongolian(f"  {SILI}   ᠶᠢᠨ ") == f"{SILI} ᠶᠢᠨ"


def test_every_problem_is_listed_at_once() -> None:
    problems = mongolian_text_problems("\u180bᠰᠢᠯᠢ 锡林 abc \u181a")
    joined = " | ".join(problems)
    assert "not traditional Mongolian script" in joined and "U+9521" in joined and "U+0061" in joined
    assert "unassigned" in joined and "U+181A" in joined
    assert "variation selector" in joined
    assert len(problems) == 3


def test_characters_the_font_cannot_draw_are_refused() -> None:
    # FVS4 (U+180F, Unicode 14) is assigned but Noto Sans Mongolian has no glyph for it.
    assert any("cannot draw" in p and "U+180F" in p for p in mongolian_text_problems("ᠠ\u180f"))


def test_text_without_a_letter_or_too_long_is_refused() -> None:
    assert "contains no Mongolian letter" in mongolian_text_problems("᠂")
    assert mongolian_text_problems("") == ["is empty"]
    assert any("at most 200" in p for p in mongolian_text_problems("ᠠ" * 201))


# --- the PDF text layer -------------------------------------------------------------------------
def test_to_unicode_text_comes_from_glyph_names() -> None:
    assert _text_of("u1822.med") == "\u1822"
    assert _text_of("u182A_1822.ini") == "\u182a\u1822"  # a ligature draws two letters
    assert _text_of("NNBSP") == "\u202f"
    assert _text_of("dottedcircle") is None


def _pdf(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "mn.pdf"
    canvas = Canvas(str(path))
    canvas.setFont(font_name("song"), 14)
    canvas.drawString(72, 600, "锡林郭勒盟")
    for i, line in enumerate(lines):
        draw_mongolian(canvas, line, x=72, y=700 - 30 * i, size=14)
    canvas.save()
    return path


@poppler
def test_pdftotext_gives_the_mongolian_string_back(tmp_path: Path) -> None:
    lines = [f"{SILI} ᠶᠢᠨ {GOOL}", "ᠨ\u180bᠠ ᠲᠠᠯ\u180eᠠ " + GOOL + "\u202fᠤᠨ"]
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(_pdf(tmp_path, lines)), "-"], check=True, capture_output=True, text=True
    ).stdout
    extracted = [line for line in text.splitlines() if line.strip()]
    assert extracted[:2] == lines  # ActualText: FVS, MVS and NNBSP survive
    assert "锡林郭勒盟" in text


@poppler
def test_the_shaped_glyphs_are_an_embedded_subset_font(tmp_path: Path) -> None:
    report = subprocess.run(
        ["pdffonts", str(_pdf(tmp_path, [SILI]))], check=True, capture_output=True, text=True
    ).stdout
    row = next(line for line in report.splitlines() if "NotoSansMongolian" in line)
    name, kind, *_ = row.split()
    assert "+" in name and kind == "TrueType"  # a subset (ABCDEF+...)
    emb, sub, uni = row.split()[-5:-2]
    assert (emb, sub, uni) == ("yes", "yes", "yes")
