from __future__ import annotations

import pytest

from certsvc.rendering.fonts import string_width
from certsvc.rendering.text import NO_LINE_START, wrap_text

pytestmark = pytest.mark.db_independent


def test_wraps_within_width_and_keeps_latin_runs() -> None:
    text = "江苏省无锡市梁溪区人民中路139号恒隆广场B1层B112号，许可证编号JY23202130123456"
    width = 120.0
    lines = wrap_text(text, width=width, font="song", size=12)
    assert lines is not None and len(lines) > 1
    assert all(string_width(line, "song", 12) <= width for line in lines)
    assert "".join(lines) == text
    assert any("JY23202130123456" in line for line in lines)


def test_closing_punctuation_never_starts_a_line() -> None:
    text = "热食类食品制售；冷食类食品制售；生食类食品制售；糕点类食品（含裱花蛋糕）制售。" * 3
    for width in (60.0, 73.0, 97.0, 131.0):
        lines = wrap_text(text, width=width, font="song", size=12)
        assert lines is not None
        assert all(line[0] not in NO_LINE_START for line in lines[1:])


def test_too_many_lines_is_none() -> None:
    assert wrap_text("很长的文字" * 20, width=100, font="song", size=12, max_lines=2) is None
    assert wrap_text("短", width=100, font="song", size=12, max_lines=1) == ["短"]
