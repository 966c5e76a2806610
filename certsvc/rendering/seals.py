"""Seal images (印章印模) drawn with PIL: round official seals and oval financial seals.

The image is the *visible appearance* of a seal: drawn at the seal box of the print copy, and
used by crypto as the appearance of the digital signature on the electronic copy. The image
alone proves nothing; the signature does.

Conventions of Chinese official seals (GA 241-2000 and the 《国务院关于国家行政机关和企业事业
单位社会团体印章管理的规定》): round, red, the organisation's full name along the upper arc
read clockwise, a five-pointed star in the centre, the seal's purpose (e.g. 行政许可专用章)
horizontally under the star, and the 13-digit seal code along the lower arc.

Output is deterministic (same arguments → same bytes): PIL's drawing and PNG writer have no
timestamps or randomness, so a re-rendered licence is byte-identical.
"""

from __future__ import annotations

import io
import itertools
import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageChops, ImageDraw, ImageFont, ImageStat

from certsvc.errors import RenderingError, ValidationFailedError
from certsvc.rendering.fonts import font_path, missing_glyphs

__all__ = [
    "SEAL_DPI",
    "SEAL_PNG_MAX_BYTES",
    "SEAL_PNG_MAX_PX",
    "SEAL_PNG_MIN_PX",
    "SEAL_RED",
    "SealImageInfo",
    "draw_oval_seal",
    "draw_round_seal",
    "validate_seal_png",
]

SEAL_RED = (0xE6, 0x00, 0x12)  # "印章红"; printers match it as PANTONE 485-like red
SEAL_DPI = 600  # enough for a 1200 dpi laser print of a 42 mm seal without visible steps


def _px(mm: float) -> int:
    return max(1, round(mm / 25.4 * SEAL_DPI))


@lru_cache(maxsize=64)
def _font(size_px: int) -> ImageFont.FreeTypeFont:
    # index 0 of uming.ttc = AR PL UMing CN, the same 宋体 face as the licence text.
    return ImageFont.truetype(str(font_path("song")), size_px, index=0)


_UNDRAWABLE = "seal_text_not_drawable"


def _check_text(*, department_name: str, seal_name: str, code: str | None) -> None:
    """Refuse seal text that cannot be drawn: a caller's input, so a 4xx, never a 500."""
    name = department_name.strip()
    if not 2 <= len(name) <= 30:
        raise ValidationFailedError(
            f"department name must be 2–30 characters for a seal, got {len(name)}",
            code=_UNDRAWABLE,
            details=[{"field": "department_name", "problem": "2 to 30 characters fit a seal"}],
        )
    problems = []
    for field, text in (("department_name", name), ("name", seal_name), ("code", code or "")):
        # The seal is drawn by PIL with the one 宋体 face: the licence's per-character fallback
        # font does not apply here.
        missing = missing_glyphs(text, "song", fallback=False)
        if missing:
            shown = ", ".join(f"{ch} (U+{ord(ch):04X})" for ch in missing)
            problems.append({"field": field, "problem": f"the seal font cannot draw {shown}"})
    if problems:
        raise ValidationFailedError(
            "the seal text has characters the seal font cannot draw",
            code=_UNDRAWABLE,
            details=problems,
        )


def _glyph_tile(ch: str, height_px: int, width_scale: float) -> Image.Image:
    """One character as an 8-bit coverage tile, centred, horizontally compressed if needed."""
    font = _font(height_px)
    tile = Image.new("L", (height_px * 2, height_px * 2), 0)
    # Engraved seal strokes are heavier than book type: a thin outline stroke
    # (~1.2 % of the height) gives the thin 宋体 face the weight of a real 印模.
    stroke = max(1, round(height_px * 0.012))
    ImageDraw.Draw(tile).text(
        (height_px, height_px),
        ch,
        font=font,
        fill=255,
        anchor="mm",
        stroke_width=stroke,
        stroke_fill=255,
    )
    if width_scale < 0.999:
        tile = tile.resize(
            (max(1, round(tile.width * width_scale)), tile.height), Image.Resampling.LANCZOS
        )
    return tile


def _stamp(mask: Image.Image, tile: Image.Image, angle_deg: float, cx: float, cy: float) -> None:
    """Rotate ``tile`` (counter-clockwise degrees) and add it to ``mask`` centred at (cx, cy)."""
    rotated = tile.rotate(angle_deg, resample=Image.Resampling.BICUBIC, expand=True)
    left = round(cx - rotated.width / 2)
    top = round(cy - rotated.height / 2)
    mask.paste(255, (left, top, left + rotated.width, top + rotated.height), rotated)


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, radius: float) -> None:
    # A regular five-pointed star: inner radius = R·sin18°/sin126° ≈ 0.382 R.
    inner = radius * math.sin(math.radians(18)) / math.sin(math.radians(126))
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else inner
        theta = math.radians(-90 + 36 * k)
        points.append((cx + r * math.cos(theta), cy + r * math.sin(theta)))
    draw.polygon(points, fill=255)


def _to_png(mask: Image.Image) -> bytes:
    # Every pixel carries the seal red; only alpha varies. Constant colour planes compress to
    # almost nothing, which keeps the print PDF small and its image encoding fast.
    image = Image.new("RGBA", mask.size, (*SEAL_RED, 0))
    image.putalpha(mask)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False, compress_level=6, dpi=(SEAL_DPI, SEAL_DPI))
    return out.getvalue()


def _arc_text(
    mask: Image.Image,
    text: str,
    *,
    cx: float,
    cy: float,
    radius: float,
    span_deg: float,
    height_px: int,
    upper: bool,
) -> None:
    """Evenly spaced characters along an arc, each rotated to follow it.

    Upper arc: read clockwise, tops outward. Lower arc: read left to right, bottoms outward.
    """
    n = len(text)
    step = math.radians(span_deg) / n
    advance = radius * step  # arc length available per character
    width_scale = min(1.0, 0.92 * advance / height_px)
    for i, ch in enumerate(text):
        offset = -span_deg / 2 + span_deg * (i + 0.5) / n
        theta = math.radians(offset)
        tile = _glyph_tile(ch, height_px, width_scale)
        if upper:
            x, y = cx + radius * math.sin(theta), cy - radius * math.cos(theta)
            _stamp(mask, tile, -offset, x, y)
        else:
            x, y = cx + radius * math.sin(theta), cy + radius * math.cos(theta)
            _stamp(mask, tile, offset, x, y)


def draw_round_seal(
    *,
    department_name: str,
    seal_name: str = "行政许可专用章",
    code: str | None = None,
    diameter_mm: float = 42,
) -> bytes:
    """A round official seal as a transparent RGBA PNG at 600 dpi.

    Raises:
        ValidationFailedError: (code ``seal_text_not_drawable``) a department name that is not
            2–30 characters, or characters the seal font cannot draw.
        RenderingError: a diameter outside 20–60 mm.
    """
    _check_text(department_name=department_name, seal_name=seal_name, code=code)
    name = department_name.strip()
    if not 20 <= diameter_mm <= 60:
        raise RenderingError("seal diameter must be 20–60 mm")
    size = _px(diameter_mm)
    mask = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(mask)
    c = size / 2
    ring = size * 0.034  # ≈1.4 mm on a 42 mm seal
    draw.ellipse(
        (ring / 2, ring / 2, size - ring / 2, size - ring / 2), outline=255, width=round(ring)
    )

    # Longer names get a wider arc (up to 240°) and smaller, narrower characters — what seal
    # engravers do — so 6 and 25 characters both read as a proper seal.
    n = len(name)
    span = min(240.0, max(170.0, 110.0 + n * 11.0))
    height = round(size * (0.165 if n <= 10 else 0.165 - min(0.035, (n - 10) * 0.0035)))
    text_radius = c - ring - height * 0.62 - size * 0.012
    _arc_text(
        mask, name, cx=c, cy=c, radius=text_radius, span_deg=span, height_px=height, upper=True
    )

    _star(draw, c, c * 0.98, size * 0.16)

    if seal_name:
        name_height = round(size * 0.105)
        width_budget = size * (0.58 if n <= 9 else 0.46)
        scale = min(1.0, width_budget / (len(seal_name) * name_height))
        tiles = [_glyph_tile(ch, name_height, scale) for ch in seal_name]
        pitch = name_height * scale * 1.02
        y = c + size * 0.245
        x0 = c - pitch * (len(seal_name) - 1) / 2
        for i, tile in enumerate(tiles):
            _stamp(mask, tile, 0, x0 + i * pitch, y)

    if code:
        code_height = round(size * 0.06)
        code_radius = c - ring - code_height * 0.75 - size * 0.012
        code_span = min(100.0, 5.2 * len(code))
        _arc_text(
            mask,
            code,
            cx=c,
            cy=c,
            radius=code_radius,
            span_deg=code_span,
            height_px=code_height,
            upper=False,
        )
    return _to_png(mask)


def _ellipse_positions(
    a: float, b: float, count: int, span_fraction: float
) -> list[tuple[float, float, float]]:
    """Points evenly spaced *by arc length* on the upper part of an ellipse, with normal angles.

    Returns (x, y, angle) relative to the centre in image coordinates, angle in degrees clockwise
    from straight up — the rotation a character needs to stand on the curve.
    """
    samples = 2000
    pts = []
    for k in range(samples + 1):
        t = math.pi * (-1 + 2 * k / samples)  # -π..π, t=0 at the top
        pts.append((a * math.sin(t), -b * math.cos(t)))
    lengths = [0.0]
    for (x1, y1), (x2, y2) in itertools.pairwise(pts):
        lengths.append(lengths[-1] + math.hypot(x2 - x1, y2 - y1))
    total = lengths[-1]
    used = total * span_fraction
    start = total / 2 - used / 2
    out = []
    j = 0
    for i in range(count):
        target = start + used * (i + 0.5) / count
        while lengths[j + 1] < target:
            j += 1
        x, y = pts[j]
        # Outward normal of x²/a² + y²/b² = 1 is (x/a², y/b²).
        nx, ny = x / (a * a), y / (b * b)
        angle = math.degrees(math.atan2(nx, -ny))
        out.append((x, y, angle))
    return out


def draw_oval_seal(
    *,
    department_name: str,
    seal_name: str = "财务专用章",
    code: str | None = None,
    width_mm: float = 45,
    height_mm: float = 30,
) -> bytes:
    """An oval seal (财务专用章, 合同专用章) as a transparent RGBA PNG at 600 dpi: name along the
    upper curve, the seal name horizontally in the middle, the code straight along the bottom.

    Raises:
        RenderingError: as for ``draw_round_seal``.
    """
    _check_text(department_name=department_name, seal_name=seal_name, code=code)
    name = department_name.strip()
    if not (25 <= width_mm <= 70 and 15 <= height_mm <= width_mm):
        raise RenderingError("oval seal must be 25–70 mm wide and no taller than wide")
    w, h = _px(width_mm), _px(height_mm)
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    ring = h * 0.045
    draw.ellipse((ring / 2, ring / 2, w - ring / 2, h - ring / 2), outline=255, width=round(ring))
    cx, cy = w / 2, h / 2
    n = len(name)
    height = round(h * (0.19 if n <= 10 else max(0.14, 0.19 - (n - 10) * 0.004)))
    inset = ring + height * 0.62 + h * 0.02
    a, b = cx - inset, cy - inset
    span_fraction = min(0.62, 0.34 + n * 0.018)
    positions = _ellipse_positions(a, b, n, span_fraction)
    spacing = (
        math.hypot(positions[1][0] - positions[0][0], positions[1][1] - positions[0][1])
        if n > 1
        else height
    )
    scale = min(1.0, 0.92 * spacing / height)
    for ch, (x, y, angle) in zip(name, positions, strict=True):
        _stamp(mask, _glyph_tile(ch, height, scale), -angle, cx + x, cy + y)
    if seal_name:
        name_height = round(h * 0.16)
        scale = min(1.0, w * 0.5 / (len(seal_name) * name_height))
        pitch = name_height * scale * 1.02
        x0 = cx - pitch * (len(seal_name) - 1) / 2
        for i, ch in enumerate(seal_name):
            _stamp(mask, _glyph_tile(ch, name_height, scale), 0, x0 + i * pitch, cy + h * 0.12)
    if code:
        code_height = round(h * 0.085)
        pitch = code_height * 0.62
        x0 = cx - pitch * (len(code) - 1) / 2
        for i, ch in enumerate(code):
            _stamp(mask, _glyph_tile(ch, code_height, 1.0), 0, x0 + i * pitch, cy + h * 0.33)
    return _to_png(mask)


# --- uploaded seal images -------------------------------------------------------------------------
SEAL_PNG_MAX_BYTES = 2 * 1024 * 1024
SEAL_PNG_MIN_PX = 300  # below this a 42 mm seal prints at < 180 dpi: visibly stepped edges
SEAL_PNG_MAX_PX = 3000  # 1800 dpi at 42 mm; more only costs memory and render time
SEAL_PNG_MAX_ASPECT = 1.5  # round seals are 1:1, oval financial seals about 4:3
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_INK_ALPHA = 128  # a pixel with more opacity than this is ink
_CLEAR_ALPHA = 16  # a corner pixel with at most this opacity is background
_MIN_RED_FRACTION = 0.85  # anti-aliased edges and scanner noise may be off-red; the ink is not


@dataclass(frozen=True, slots=True)
class SealImageInfo:
    """What ``validate_seal_png`` measured on an accepted seal image."""

    width_px: int
    height_px: int
    ink_fraction: float  # share of pixels that are ink (alpha > 128)
    red_fraction: float  # share of the ink that is seal red
    mean_ink_rgb: tuple[int, int, int]  # average colour of the ink


def _max_value(band: Image.Image) -> float:
    """Largest value of a single-band image (PIL types getextrema for every mode at once)."""
    extrema = band.getextrema()
    top = extrema[1]
    return float(top) if isinstance(top, int | float) else 0.0


def _seal_problem(problem: str) -> dict[str, str]:
    return {"field": "image", "problem": problem}


def _refuse(problems: list[dict[str, str]]) -> ValidationFailedError:
    return ValidationFailedError("the seal image cannot be used", details=problems)


def validate_seal_png(data: bytes) -> SealImageInfo:
    """Check an uploaded seal image (印模) before it is stored for a department's seal.

    The image becomes the visible appearance of every signature and is printed on paper copies,
    so it must look like a seal on any background: a PNG with a real alpha channel, transparent
    around the seal (checked at the four corners), square-ish, 300–3000 px a side, at most 2 MiB,
    and red ink. Size limits are checked from the PNG header before any pixel is decoded, so a
    decompression bomb is refused without being unpacked.

    Raises:
        ValidationFailedError: listing every problem found (``details`` = ``[{field, problem}]``).
    """
    if len(data) > SEAL_PNG_MAX_BYTES:
        raise _refuse(
            [_seal_problem(f"the file is {len(data)} bytes; at most {SEAL_PNG_MAX_BYTES} (2 MiB)")]
        )
    if not data.startswith(_PNG_MAGIC):
        raise _refuse([_seal_problem("not a PNG file (only PNG keeps a transparent background)")])
    try:
        with warnings.catch_warnings():
            # Image.open reads only the header; the size limits below refuse large images
            # before any pixel is decoded, so PIL's own bomb warning is noise here.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["PNG"])
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise _refuse([_seal_problem("the PNG file is damaged and cannot be read")]) from exc
    problems: list[dict[str, str]] = []
    width, height = image.size
    if min(width, height) < SEAL_PNG_MIN_PX or max(width, height) > SEAL_PNG_MAX_PX:
        problems.append(
            _seal_problem(
                f"the image is {width}×{height} px; each side must be "
                f"{SEAL_PNG_MIN_PX}–{SEAL_PNG_MAX_PX} px"
            )
        )
    if max(width, height) > SEAL_PNG_MAX_ASPECT * min(width, height):
        problems.append(
            _seal_problem(
                f"the image is {width}×{height} px; a seal image is square or nearly so "
                f"(at most {SEAL_PNG_MAX_ASPECT}:1)"
            )
        )
    if image.mode not in ("RGBA", "LA"):
        problems.append(
            _seal_problem(
                f"the image has no alpha channel (PNG colour mode {image.mode}); "
                "save it as a 32-bit RGBA PNG with a transparent background"
            )
        )
    if problems:
        raise _refuse(problems)  # nothing below is meaningful (or safe to decode) without these
    try:
        image.load()
    except (OSError, ValueError, SyntaxError) as exc:
        raise _refuse([_seal_problem("the PNG file is damaged and cannot be read")]) from exc
    rgba = image.convert("RGBA")
    red, green, blue, alpha = rgba.split()

    # Background: the four corners lie outside any round or oval seal.
    patch = max(4, round(min(width, height) * 0.04))
    corners = [
        (0, 0),
        (width - patch, 0),
        (0, height - patch),
        (width - patch, height - patch),
    ]
    opaque_corners = [
        name
        for name, (x, y) in zip(
            ("top-left", "top-right", "bottom-left", "bottom-right"), corners, strict=True
        )
        if _max_value(alpha.crop((x, y, x + patch, y + patch))) > _CLEAR_ALPHA
    ]
    if opaque_corners:
        problems.append(
            _seal_problem(
                "the background is not transparent (opaque corners: "
                + ", ".join(opaque_corners)
                + "); remove the white or scanned background"
            )
        )

    ink = alpha.point(lambda a: 255 if a > _INK_ALPHA else 0, mode="1")
    ink_pixels = ink.histogram()[255]
    total = width * height
    ink_fraction = ink_pixels / total
    if ink_pixels == 0 or ink_fraction < 0.02:
        problems.append(_seal_problem("the image is (almost) empty: less than 2 % of it is ink"))
        raise _refuse(problems)
    if ink_fraction > 0.75:
        problems.append(
            _seal_problem(
                f"{ink_fraction:.0%} of the image is opaque; a seal is lines on a clear ground"
            )
        )
    # Seal red: red clearly above both green and blue, and bright enough not to read as black.
    redness = ImageChops.subtract(red, ImageChops.lighter(green, blue))
    is_red = ImageChops.logical_and(
        redness.point(lambda v: 255 if v >= 60 else 0, mode="1"),
        red.point(lambda v: 255 if v >= 120 else 0, mode="1"),
    )
    red_ink = ImageChops.logical_and(is_red, ink).histogram()[255]
    red_fraction = red_ink / ink_pixels
    mean = tuple(round(ImageStat.Stat(channel, ink).mean[0]) for channel in (red, green, blue))
    if red_fraction < _MIN_RED_FRACTION:
        problems.append(
            _seal_problem(
                f"the ink is not seal red: only {red_fraction:.0%} of it is red "
                f"(average colour #{mean[0]:02X}{mean[1]:02X}{mean[2]:02X}); "
                "official seals are printed in one red"
            )
        )
    if problems:
        raise _refuse(problems)
    return SealImageInfo(
        width_px=width,
        height_px=height,
        ink_fraction=round(ink_fraction, 4),
        red_fraction=round(red_fraction, 4),
        mean_ink_rgb=(mean[0], mean[1], mean[2]),
    )
