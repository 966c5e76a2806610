from __future__ import annotations

from pathlib import Path

import pytest

from certsvc.errors import ConfigurationError
from certsvc.rendering import fonts

pytestmark = pytest.mark.db_independent


def test_common_chinese_and_ascii_have_glyphs() -> None:
    assert fonts.missing_glyphs("食品经营许可证（正本）JY123，。、〔2026〕", ["song", "kai"]) == []


def test_rare_and_emoji_characters_are_reported() -> None:
    # U+20000 (CJK Ext. B) and an emoji are not in AR PL UMing; the fallback face draws only
    # Han characters, so the emoji stays refused either way.
    assert fonts.missing_glyphs("张𠀀三😀", "song", fallback=False) == ["𠀀", "😀"]
    assert fonts.missing_glyphs("张𠀀三😀", "song") == ["😀"]
    assert not fonts.has_glyph("\u200b")  # zero-width space: format character, never printed


def test_missing_font_names_path_and_package(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "uming.ttc"
    spec = fonts.FontSpec(missing, 0, "fonts-arphic-uming", "宋体")
    try:
        with pytest.raises(ConfigurationError) as info:
            fonts.register_fonts({"song": spec})
        assert str(missing) in info.value.message
        assert "fonts-arphic-uming" in info.value.message
    finally:
        fonts.register_fonts({"song": fonts.DEFAULT_FONTS["song"]})
    assert fonts.has_glyph("证")


# --- rare characters in names: the per-character fallback face (BabelStone Han) ---------------
RARE_NAME = "𠮷犇"  # U+20BB7 (CJK Ext. B, in no AR PL face) and U+7287 (rare, but in GBK)


def test_the_installed_fallback_covers_the_rare_test_characters() -> None:
    assert fonts.FALLBACK_FONT.path.is_file(), f"install {fonts.FALLBACK_FONT.package} (Makefile)"
    assert fonts.missing_glyphs(RARE_NAME, "song", fallback=False) == ["𠮷"]
    assert fonts.missing_glyphs(RARE_NAME, "kai", fallback=False) == ["𠮷"]
    assert fonts.missing_glyphs(RARE_NAME, ["song", "kai", "hei"]) == []


def test_runs_switch_faces_only_for_characters_the_template_font_lacks() -> None:
    song, fallback = fonts.font_name("song"), "certsvc-fallback"
    assert fonts.runs("张三", "song") == [(song, "张三")]
    assert fonts.runs("吉𠮷犇", "song") == [(song, "吉"), (fallback, "𠮷"), (song, "犇")]
    kai = fonts.font_name("kai")
    assert fonts.runs("吉𠮷犇", "kai") == [(kai, "吉"), (fallback, "𠮷"), (kai, "犇")]
    # widths add up across faces: a full-width character is one em in both
    assert fonts.string_width("吉𠮷犇", "song", 10) == pytest.approx(30, abs=0.5)


def test_without_the_fallback_rare_characters_are_refused_naming_the_package(
    monkeypatch: pytest.MonkeyPatch, registry: object
) -> None:
    from certsvc.errors import ValidationFailedError
    from certsvc.rendering.templates import TemplateRegistry

    assert isinstance(registry, TemplateRegistry)
    monkeypatch.setattr(fonts, "_fallback", [None])  # as on a machine without the package
    assert fonts.missing_glyphs(RARE_NAME, "song") == ["𠮷"]
    template = registry.get("food-business-licence")
    sample = template.load_sample()
    with pytest.raises(ValidationFailedError) as info:
        template.validate_fields({**sample["fields"], "legal_representative": "吉𠮷犇"})
    problems = " ".join(d["problem"] for d in info.value.details)
    assert "U+20BB7" in problems and fonts.FALLBACK_FONT.package in problems


# --- glyphs that exist but draw nothing -----------------------------------------------------
BLANK_IN_KAI = "䶮"  # U+4DAE: AR PL UKai maps it to a glyph with no contours


def _ink(font_file: Path, ch: str) -> tuple[int, int, int, int] | None:
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(str(font_file), 64, index=0)
    image = Image.new("L", (100, 100))
    ImageDraw.Draw(image).text((10, 10), ch, font=face, fill=255)
    return image.getbbox()


def test_a_mapped_glyph_without_an_outline_does_not_count() -> None:
    # The premise, shown with another rasteriser: UKai's glyph draws nothing, UMing's draws.
    assert _ink(fonts.font_path("kai"), BLANK_IN_KAI) is None
    assert _ink(fonts.font_path("song"), BLANK_IN_KAI) is not None
    assert not fonts.has_glyph(BLANK_IN_KAI, "kai", fallback=False)
    assert fonts.has_glyph(BLANK_IN_KAI, "song", fallback=False)
    assert fonts.has_glyph(BLANK_IN_KAI, "kai")  # the fallback face draws it
    # spaces are the one kind of character whose right glyph is empty
    assert fonts.has_glyph(" ", "kai", fallback=False) and fonts.has_glyph("\u3000", "kai", fallback=False)


def test_only_the_blank_character_comes_from_the_fallback_face() -> None:
    kai = fonts.font_name("kai")
    assert fonts.runs("张䶮明，你好", "kai") == [(kai, "张"), ("certsvc-fallback", "䶮"), (kai, "明，你好")]
