from __future__ import annotations

from pathlib import Path

import pytest

from certsvc.errors import ConfigurationError
from certsvc.rendering import fonts


def test_common_chinese_and_ascii_have_glyphs() -> None:
    assert fonts.missing_glyphs("食品经营许可证（正本）JY123，。、〔2026〕", ["song", "kai"]) == []


def test_rare_and_emoji_characters_are_reported() -> None:
    # U+20000 (CJK Ext. B) and an emoji are not in AR PL UMing.
    assert fonts.missing_glyphs("张𠀀三😀", "song") == ["𠀀", "😀"]
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
