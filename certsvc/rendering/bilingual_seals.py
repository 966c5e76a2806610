"""Bilingual round seals (蒙汉双语公章) of 内蒙古 departments, drawn with PIL.

《内蒙古自治区社会市面蒙汉两种文字并用管理办法》(内政办发〔1996〕32号) Art. 3: ring text reads left to
right with Mongolian in the outer ring and Chinese in the inner ring, or Mongolian on the upper
half and Chinese on the lower half; both scripts the same size. Here "the same size" means the
same em: the Mongolian run is set at the pixel size of the Chinese characters, and when a long
name needs smaller text, both rings shrink together.

The Mongolian name is shaped by HarfBuzz (``rendering.mongolian``) and its glyph outlines are
*bent* along the ring: every outline point is moved to the polar position its distance along
the line gives, so the joined letters stay joined on the curve the way an engraver cuts them,
instead of straight glyph boxes rotated one by one. Outlines are filled with PIL at twice the
seal resolution and reduced, which gives the same smooth edges as the FreeType-drawn Chinese.

The output is a transparent RGBA PNG at 600 dpi like ``draw_round_seal``'s, so the PDF seal
image, the print copy and the GB/T 38540 seal picture are all this one image.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import StrEnum

from PIL import Image, ImageChops, ImageDraw, ImageFilter

from certsvc.errors import RenderingError, ValidationFailedError
from certsvc.rendering.mongolian import (
    ShapedRun,
    glyph_contours,
    mongolian_text_problems,
    shape_mongolian,
)
from certsvc.rendering.seals import (
    _UNDRAWABLE,
    _arc_text,
    _check_text,
    _glyph_tile,
    _px,
    _stamp,
    _star,
    _to_png,
)

__all__ = ["RingLayout", "draw_bilingual_round_seal"]

_SUPERSAMPLE = 2
_MAX_RING_DEG = 300.0  # the outer ring leaves a gap at the bottom, where it starts and ends
_MAX_UPPER_DEG = 180.0  # halves: the Mongolian may use the whole upper half
_MAX_LOWER_DEG = 150.0
_MAX_INNER_DEG = 250.0

Point = tuple[float, float]


class RingLayout(StrEnum):
    """Where the two scripts go on a bilingual round seal."""

    RINGS = "rings"  # Mongolian in the outer ring, Chinese in the inner ring
    HALVES = "halves"  # Mongolian on the upper half, Chinese on the lower half


def _signed_area(contour: tuple[Point, ...]) -> float:
    return 0.5 * sum(
        x1 * y2 - x2 * y1
        for (x1, y1), (x2, y2) in zip(contour, contour[1:] + contour[:1], strict=True)
    )


def _ink_band(run: ShapedRun) -> tuple[float, float]:
    """Lowest and highest outline y of the run, in font units."""
    ys = [
        y + g.y_offset
        for g in run.glyphs
        for contour in glyph_contours(g.glyph_id)
        for _, y in contour
    ]
    if not ys:
        raise RenderingError("the Mongolian name draws nothing")
    return min(ys), max(ys)


def _draw_run(layer: Image.Image, run: ShapedRun, place: Callable[[float, float], Point]) -> None:
    """Fill the run's glyph outlines into ``layer``; ``place`` maps font units to layer pixels.

    Outlines follow the non-zero rule: contours turning like the glyph's largest one are ink,
    contours turning the other way are counters (the holes of ᠣ, ᠪ ...). Each glyph is filled
    in its own tile so one letter's counter never erases its neighbour's stroke.
    """
    pen_x = 0
    for glyph in run.glyphs:
        contours = glyph_contours(glyph.glyph_id)
        if contours:
            placed = [
                [place(pen_x + glyph.x_offset + x, glyph.y_offset + y) for x, y in contour]
                for contour in contours
            ]
            xs = [p[0] for c in placed for p in c]
            ys = [p[1] for c in placed for p in c]
            left, top = math.floor(min(xs)) - 1, math.floor(min(ys)) - 1
            width, height = math.ceil(max(xs)) - left + 2, math.ceil(max(ys)) - top + 2
            ink = Image.new("L", (width, height), 0)
            holes = Image.new("L", (width, height), 0)
            outer_sign = math.copysign(
                1.0, _signed_area(max(contours, key=lambda c: abs(_signed_area(c))))
            )
            for contour, points in zip(contours, placed, strict=True):
                target = ink if math.copysign(1.0, _signed_area(contour)) == outer_sign else holes
                ImageDraw.Draw(target).polygon([(x - left, y - top) for x, y in points], fill=255)
            # Engraved strokes are heavier than the book face, as for the Chinese
            # (seals._glyph_tile): grow the ink by one supersampled pixel.
            tile = ImageChops.subtract(ink, holes).filter(ImageFilter.MaxFilter(3))
            region = (left, top, left + width, top + height)
            layer.paste(ImageChops.lighter(layer.crop(region), tile), region)
        pen_x += glyph.x_advance


def _mongolian_on_arc(
    mask: Image.Image, run: ShapedRun, *, cx: float, cy: float, radius: float, size_px: float
) -> None:
    """The run centred on the top of a circle, read clockwise, letter tops outward."""
    scale = size_px / run.units_per_em
    bottom, top = _ink_band(run)
    middle = (bottom + top) / 2
    start = -run.advance_units * scale / (2 * radius)
    ss = _SUPERSAMPLE

    def place(x: float, y: float) -> Point:
        angle = start + x * scale / radius  # clockwise from 12 o'clock
        r = radius + (y - middle) * scale
        return ((cx + r * math.sin(angle)) * ss, (cy - r * math.cos(angle)) * ss)

    _composite(mask, run, place)


def _mongolian_line(
    mask: Image.Image, run: ShapedRun, *, cx: float, cy: float, size_px: float
) -> None:
    """The run as a straight horizontal line centred on (cx, cy)."""
    scale = size_px / run.units_per_em
    bottom, top = _ink_band(run)
    middle = (bottom + top) / 2
    left = cx - run.advance_units * scale / 2
    ss = _SUPERSAMPLE

    def place(x: float, y: float) -> Point:
        return ((left + x * scale) * ss, (cy - (y - middle) * scale) * ss)

    _composite(mask, run, place)


def _composite(mask: Image.Image, run: ShapedRun, place: Callable[[float, float], Point]) -> None:
    layer = Image.new("L", (mask.width * _SUPERSAMPLE, mask.height * _SUPERSAMPLE), 0)
    _draw_run(layer, run, place)
    mask.paste(ImageChops.lighter(mask, layer.reduce(_SUPERSAMPLE)))


def _check_mongolian(text: str, field: str) -> ShapedRun:
    problems = mongolian_text_problems(text)
    if problems:
        raise ValidationFailedError(
            f"the seal's Mongolian text cannot be drawn: {'; '.join(problems)}",
            code=_UNDRAWABLE,
            details=[{"field": field, "problem": f"the Mongolian name {p}"} for p in problems],
        )
    return shape_mongolian(text)


def _too_long(layout: str) -> ValidationFailedError:
    return ValidationFailedError(
        f"the department's names are too long for this seal size ({layout} layout)",
        code=_UNDRAWABLE,
        details=[
            {"field": "name_mn", "problem": "too long to fit the seal beside the Chinese name"}
        ],
    )


def _chinese_line(
    mask: Image.Image, text: str, *, cx: float, cy: float, height: int, width_budget: float
) -> None:
    scale = min(1.0, width_budget / (len(text) * height))
    pitch = height * scale * 1.02
    x0 = cx - pitch * (len(text) - 1) / 2
    for i, ch in enumerate(text):
        _stamp(mask, _glyph_tile(ch, height, scale), 0, x0 + i * pitch, cy)


def draw_bilingual_round_seal(
    *,
    department_name: str,
    department_name_mn: str,
    seal_name: str = "行政许可专用章",
    seal_name_mn: str | None = None,
    layout: RingLayout = RingLayout.RINGS,
    diameter_mm: float = 42,
) -> bytes:
    """A round seal with the department's name in Mongolian and Chinese, as a 600 dpi RGBA PNG.

    ``layout`` RINGS: Mongolian outer ring, Chinese inner ring; HALVES: Mongolian upper half,
    Chinese lower half. The star is in the centre, the seal's purpose (``seal_name``, and its
    Mongolian ``seal_name_mn`` above it when given) on straight lines below the star.

    Raises:
        ValidationFailedError: (code ``seal_text_not_drawable``) a name that is too long for the
            seal or has characters the seal fonts cannot draw.
        RenderingError: a diameter outside 30–60 mm.
    """
    _check_text(department_name=department_name, seal_name=seal_name, code=None)
    name = department_name.strip()
    if not 30 <= diameter_mm <= 60:
        raise RenderingError("a bilingual seal must be 30–60 mm across")
    outer_run = _check_mongolian(department_name_mn, "department_name_mn")
    purpose_run = _check_mongolian(seal_name_mn, "name_mn") if seal_name_mn else None

    size = _px(diameter_mm)
    c = size / 2
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    ring = size * 0.034
    draw.ellipse(
        (ring / 2, ring / 2, size - ring / 2, size - ring / 2), outline=255, width=round(ring)
    )
    bottom, top = _ink_band(outer_run)
    band_em = (top - bottom) / outer_run.units_per_em  # Mongolian ink height per em

    fit = _fit_rings if layout is RingLayout.RINGS else _fit_halves
    height, mongolian_radius, chinese_radius, chinese_span = fit(
        size, ring, band_em, outer_run, len(name)
    )
    _mongolian_on_arc(mask, outer_run, cx=c, cy=c, radius=mongolian_radius, size_px=height)
    _arc_text(
        mask,
        name,
        cx=c,
        cy=c,
        radius=chinese_radius,
        span_deg=chinese_span,
        height_px=height,
        upper=layout is RingLayout.RINGS,
    )

    if layout is RingLayout.RINGS:
        inner = chinese_radius - height * 0.6  # free radius inside the Chinese ring
        star_cy, star_r = c - inner * 0.22, inner * 0.38
        first_line, second_line, budget = c + inner * 0.34, c + inner * 0.66, inner * 1.3
    else:
        star_cy, star_r = c - size * 0.02, size * 0.13
        first_line, second_line, budget = c + size * 0.15, c + size * 0.245, size * 0.42
    _star(draw, c, star_cy, star_r)
    line_height = round(min(height, size * 0.1))
    if purpose_run is not None:
        _mongolian_line(
            mask,
            purpose_run,
            cx=c,
            cy=first_line,
            size_px=min(
                line_height, budget * outer_run.units_per_em / max(1, purpose_run.advance_units)
            ),
        )
    if seal_name:
        _chinese_line(
            mask,
            seal_name,
            cx=c,
            cy=second_line if purpose_run is not None else (first_line + second_line) / 2,
            height=line_height,
            width_budget=budget,
        )
    return _to_png(mask)


_Fit = tuple[
    int, float, float, float
]  # text height px, Mongolian radius, Chinese radius, Chinese span


def _fit_rings(size: int, ring: float, band_em: float, run: ShapedRun, n: int) -> _Fit:
    """The largest common text size at which both rings fit."""
    border = size / 2 - 1.5 * ring  # inner edge of the border line
    height = size * 0.115
    while height >= size * 0.055:
        band = band_em * height
        outer = border - band / 2 - size * 0.012
        inner = outer - band / 2 - height * 0.55 - size * 0.012
        mongolian_deg = math.degrees(run.width(height) / outer)
        natural_deg = math.degrees(n * height * 1.04 / inner)
        tightest_deg = math.degrees(n * height * 0.8 / inner)
        if (
            mongolian_deg <= _MAX_RING_DEG
            and tightest_deg <= _MAX_INNER_DEG
            and inner - height * 0.6 > size * 0.17
        ):
            return round(height), outer, inner, min(_MAX_INNER_DEG, max(120.0, natural_deg))
        height -= size * 0.0025
    raise _too_long("rings")


def _fit_halves(size: int, ring: float, band_em: float, run: ShapedRun, n: int) -> _Fit:
    """The largest common text size at which both halves fit."""
    border = size / 2 - 1.5 * ring
    height = size * 0.13
    while height >= size * 0.045:
        band = max(band_em * height, height)
        radius = border - band / 2 - size * 0.012
        chinese = border - height * 0.62 - size * 0.012
        mongolian_deg = math.degrees(run.width(height) / radius)
        natural_deg = math.degrees(n * height * 1.04 / chinese)
        tightest_deg = math.degrees(n * height * 0.8 / chinese)
        if mongolian_deg <= _MAX_UPPER_DEG and tightest_deg <= _MAX_LOWER_DEG:
            return round(height), radius, chinese, min(_MAX_LOWER_DEG, max(90.0, natural_deg))
        height -= size * 0.0025
    raise _too_long("halves")
