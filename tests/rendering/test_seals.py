from __future__ import annotations

import io
import math

import pytest
from PIL import Image

from certsvc.errors import ValidationFailedError
from certsvc.rendering.seals import (
    SEAL_PNG_MAX_BYTES,
    draw_oval_seal,
    draw_round_seal,
    validate_seal_png,
)

pytestmark = pytest.mark.db_independent

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
    # A caller's input, so a validation error (422), never a rendering failure (500).
    with pytest.raises(ValidationFailedError) as info:
        draw_round_seal(department_name="无锡市𠀀𠀀市场监督管理局", seal_name="行政许可专用章")
    assert info.value.code == "seal_text_not_drawable"
    assert info.value.details == [{"field": "department_name", "problem": "the seal font cannot draw 𠀀 (U+20000)"}]
    with pytest.raises(ValidationFailedError) as info:
        draw_oval_seal(department_name="锡林郭勒盟市场监督管理局", seal_name="合同专用章😀")
    assert info.value.details[0]["field"] == "name"


def test_seal_refuses_a_department_name_too_long_to_fit() -> None:
    with pytest.raises(ValidationFailedError) as info:
        draw_round_seal(department_name="锡林郭勒盟" * 7)
    assert info.value.code == "seal_text_not_drawable"


# --- uploaded seal images: validate_seal_png ------------------------------------------------------


def _png(image: Image.Image, **save: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", **save)
    return out.getvalue()


def _problems(data: bytes) -> str:
    with pytest.raises(ValidationFailedError) as info:
        validate_seal_png(data)
    assert all(d["field"] == "image" for d in info.value.details)
    return " | ".join(d["problem"] for d in info.value.details)


def _ring(size: int, colour: tuple[int, int, int], background: tuple[int, int, int, int]) -> Image.Image:
    from PIL import ImageDraw

    image = Image.new("RGBA", (size, size), background)
    ImageDraw.Draw(image).ellipse(
        (size * 0.05, size * 0.05, size * 0.95, size * 0.95), outline=(*colour, 255), width=size // 12
    )
    return image


def test_drawn_seals_are_accepted_as_uploads() -> None:
    round_info = validate_seal_png(draw_round_seal(department_name=NAMES[25], code="3202000012345"))
    assert round_info.width_px == round_info.height_px >= 300
    assert round_info.red_fraction > 0.99 and 0.05 < round_info.ink_fraction < 0.5
    oval_info = validate_seal_png(draw_oval_seal(department_name=NAMES[6]))
    assert oval_info.width_px > oval_info.height_px


def test_a_scanned_seal_with_anti_aliased_edges_is_accepted() -> None:
    image = _ring(600, (210, 30, 40), (255, 255, 255, 0)).resize((450, 450), Image.Resampling.LANCZOS)
    info = validate_seal_png(_png(image))
    assert info.red_fraction >= 0.85 and info.mean_ink_rgb[0] > 150


def test_not_a_png_is_refused() -> None:
    jpeg = io.BytesIO()
    Image.new("RGB", (400, 400), (230, 0, 18)).save(jpeg, format="JPEG")
    assert "not a PNG" in _problems(jpeg.getvalue())
    assert "damaged" in _problems(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)


def test_too_large_a_file_is_refused_before_decoding() -> None:
    assert "2 MiB" in _problems(b"\x89PNG\r\n\x1a\n" + b"\x00" * SEAL_PNG_MAX_BYTES)


def test_size_and_shape_limits() -> None:
    assert "300–3000 px" in _problems(_png(_ring(200, (230, 0, 18), (0, 0, 0, 0))))
    wide = Image.new("RGBA", (1200, 400), (0, 0, 0, 0))
    assert "square" in _problems(_png(wide))
    # a 6000×6000 PNG compresses to a few KiB: refused from its header, never decoded
    bomb = _png(Image.new("LA", (6000, 6000), (0, 0)), optimize=True)
    assert len(bomb) < SEAL_PNG_MAX_BYTES and "300–3000 px" in _problems(bomb)


def test_an_image_without_alpha_channel_is_refused() -> None:
    flat = _ring(400, (230, 0, 18), (255, 255, 255, 255)).convert("RGB")
    assert "no alpha channel" in _problems(_png(flat))
    palette = _ring(400, (230, 0, 18), (255, 255, 255, 0)).convert("P")
    assert "no alpha channel" in _problems(_png(palette))


def test_an_opaque_background_is_refused() -> None:
    white = _ring(400, (230, 0, 18), (255, 255, 255, 255))
    problems = _problems(_png(white))
    assert "not transparent" in problems and "top-left" in problems


def test_ink_that_is_not_red_is_refused() -> None:
    blue = _ring(400, (20, 40, 200), (0, 0, 0, 0))
    problems = _problems(_png(blue))
    assert "not seal red" in problems and "#" in problems


def test_an_empty_image_is_refused() -> None:
    assert "empty" in _problems(_png(Image.new("RGBA", (400, 400), (230, 0, 18, 0))))
