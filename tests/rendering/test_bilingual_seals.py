"""Bilingual round seals: layout, the same size for both scripts, and reference images."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from certsvc.errors import ValidationFailedError
from certsvc.rendering.bilingual_seals import RingLayout, draw_bilingual_round_seal
from certsvc.rendering.seals import draw_round_seal, validate_seal_png

pytestmark = pytest.mark.db_independent

REFERENCE_DIR = Path(__file__).parent / "reference"
NAME = "锡林郭勒盟市场监督管理局"
# A test string of real Mongolian words (market supervision … bureau of Sili-yin Gool); the
# seal drawing does not depend on which words they are.
NAME_MN = "ᠰᠢᠯᠢ ᠶᠢᠨ ᠭᠣᠣᠯ ᠠᠶᠢᠮᠠᠭ ᠤᠨ ᠵᠠᠬᠠ ᠵᠡᠭᠡᠯᠢ ᠶᠢᠨ ᠬᠢᠨᠠᠨ ᠬᠠᠮᠢᠶᠠᠷᠬᠤ ᠲᠣᠪᠴᠢᠶᠠ"
TOLERANCE = 1.0  # mean absolute alpha difference, 0–255, at 150 px; a moved ring gives > 10


def _alpha(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).getchannel("A")


def _ink_in_sector(alpha: Image.Image, r_from: float, r_to: float, deg_from: float, deg_to: float) -> float:
    """Share of inked pixels in an annulus sector (radii as fractions of the size; degrees
    clockwise from 12 o'clock)."""
    size = alpha.width
    c = size / 2
    small = alpha.resize((300, 300))
    k = 300 / size
    inked = total = 0
    for y in range(300):
        for x in range(300):
            dx, dy = x / k - c, y / k - c
            r = math.hypot(dx, dy) / size
            angle = math.degrees(math.atan2(dx, -dy)) % 360
            if r_from <= r <= r_to and deg_from <= angle <= deg_to:
                total += 1
                inked += small.getpixel((x, y)) > 128  # type: ignore[operator]
    return inked / total


@pytest.fixture(scope="module")
def seals() -> dict[RingLayout, bytes]:
    return {
        layout: draw_bilingual_round_seal(
            department_name=NAME, department_name_mn=NAME_MN, seal_name="行政许可专用章", layout=layout
        )
        for layout in RingLayout
    }


def test_bilingual_seals_pass_the_uploaded_seal_checks(seals: dict[RingLayout, bytes]) -> None:
    for png in seals.values():
        info = validate_seal_png(png)
        assert info.width_px == info.height_px == 992  # 42 mm at 600 dpi
        assert info.red_fraction > 0.95


def test_drawing_is_deterministic(seals: dict[RingLayout, bytes]) -> None:
    again = draw_bilingual_round_seal(department_name=NAME, department_name_mn=NAME_MN, seal_name="行政许可专用章")
    assert again == seals[RingLayout.RINGS]


def test_mongolian_fills_the_outer_ring_down_to_the_lower_left(seals: dict[RingLayout, bytes]) -> None:
    # The outer ring reads clockwise from the lower left: the band just inside the border at
    # 7–8 o'clock carries Mongolian in the rings layout, and nothing in a Chinese-only seal
    # whose upper arc spans 170°.
    chinese_only = draw_round_seal(department_name="锡林郭勒盟")
    sector = (0.38, 0.42, 200.0, 250.0)
    assert _ink_in_sector(_alpha(seals[RingLayout.RINGS]), *sector) > 0.1
    assert _ink_in_sector(_alpha(chinese_only), *sector) < 0.03
    # Halves: Mongolian along the upper half, Chinese along the lower one.
    halves = _alpha(seals[RingLayout.HALVES])
    assert _ink_in_sector(halves, 0.38, 0.44, 280.0, 360.0) > 0.05
    assert _ink_in_sector(halves, 0.38, 0.44, 0.0, 80.0) > 0.05
    assert _ink_in_sector(halves, 0.33, 0.44, 160.0, 200.0) > 0.05


def test_too_long_or_wrong_script_names_are_refused() -> None:
    with pytest.raises(ValidationFailedError, match="too long"):
        draw_bilingual_round_seal(department_name=NAME, department_name_mn=" ".join([NAME_MN] * 3))
    with pytest.raises(ValidationFailedError, match="not traditional Mongolian"):
        draw_bilingual_round_seal(department_name=NAME, department_name_mn="Xilin Gol")


@pytest.mark.parametrize("layout", list(RingLayout))
def test_seal_matches_reference_image(seals: dict[RingLayout, bytes], layout: RingLayout) -> None:
    """Visual regression; regenerate with CERTSVC_UPDATE_REFERENCE=1 and look at the images."""
    image = _alpha(seals[layout]).resize((150, 150), Image.Resampling.BOX)
    path = REFERENCE_DIR / f"bilingual-seal-{layout.value}.png"
    if os.environ.get("CERTSVC_UPDATE_REFERENCE") == "1":
        image.save(path, optimize=True)
    reference = Image.open(path).convert("L")
    diff = ImageStat.Stat(ImageChops.difference(image, reference)).mean[0]
    assert diff < TOLERANCE, f"{path.name}: mean difference {diff:.2f}"
