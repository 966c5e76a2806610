from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from certsvc.errors import RenderingError
from certsvc.rendering.seals import draw_oval_seal, draw_round_seal

NAMES = {
    6: "北京市海淀区",
    25: "江苏省无锡市梁溪区人民政府崇安寺街道办事处行政审批",
}


def _any_red(image: Image.Image) -> bool:
    return any(
        _is_red(image.getpixel((x, y)))
        for x in range(0, image.width, 2)
        for y in range(0, image.height, 2)
    )


def _is_red(pixel: tuple[int, int, int, int]) -> bool:
    r, g, b, a = pixel
    return a > 200 and r > 200 and g < 60 and b < 80


@pytest.mark.parametrize("length", sorted(NAMES))
def test_round_seal_is_transparent_red_with_text_on_the_arc(length: int) -> None:
    name = NAMES[length]
    assert len(name) == length
    png = draw_round_seal(department_name=name, code="3202130054321")
    image = Image.open(io.BytesIO(png))
    assert image.mode == "RGBA"
    w, h = image.size
    assert w == h and w >= 900  # 42 mm at ≥ 550 dpi
    for corner in ((0, 0), (w - 1, 0), (0, h - 1), (w - 1, h - 1)):
        assert image.getpixel(corner)[3] == 0
    # The outer ring: red pixels on a circle just inside the edge.
    ring_hits = sum(
        _is_red(
            image.getpixel(
                (
                    round(w / 2 + (w / 2 - w * 0.02) * math.cos(t)),
                    round(h / 2 + (h / 2 - w * 0.02) * math.sin(t)),
                )
            )
        )
        for t in (2 * math.pi * k / 72 for k in range(72))
    )
    assert ring_hits >= 70
    # The name band: red ink along the upper arc (between ring and star), at several angles.
    band = w * 0.33
    hits = 0
    for deg in range(-60, 61, 10):
        t = math.radians(deg)
        cx, cy = w / 2 + band * math.sin(t), h / 2 - band * math.cos(t)
        box = image.crop(
            (int(cx - w * 0.04), int(cy - w * 0.04), int(cx + w * 0.04), int(cy + w * 0.04))
        )
        hits += _any_red(box)
    assert hits >= 11
    # The star in the centre.
    assert _is_red(image.getpixel((w // 2, h // 2)))


def test_seal_is_deterministic() -> None:
    assert draw_round_seal(department_name="无锡市市场监督管理局") == draw_round_seal(
        department_name="无锡市市场监督管理局"
    )


def test_oval_seal() -> None:
    png = draw_oval_seal(department_name="无锡市梁溪区味之源餐饮管理有限公司", code="3202130098765")
    image = Image.open(io.BytesIO(png))
    assert image.mode == "RGBA" and image.width > image.height
    assert image.getpixel((0, 0))[3] == 0
    assert _any_red(image.crop((0, image.height // 2 - 5, 40, image.height // 2 + 5)))


def test_seal_refuses_unprintable_name() -> None:
    with pytest.raises(RenderingError):
        draw_round_seal(department_name="无锡市𠀀𠀀市场监督管理局")
