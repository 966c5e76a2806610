"""Traditional Mongolian text: checking it, shaping it with HarfBuzz, glyph outlines.

Mongolian (Unicode U+1800–U+18AF) is a joining script: a letter takes an initial, medial,
final or isolated form by its position in the word, and the free variation selectors
(FVS1–FVS4), the Mongolian vowel separator (MVS, U+180E) and the narrow no-break space before
case suffixes (NNBSP, U+202F) choose among forms. Drawing the code points one by one gives a
row of isolated letters that no reader accepts, so every Mongolian string is shaped by
HarfBuzz (its Mongolian shaper applies the font's positional and variant lookups) with Noto
Sans Mongolian, and only the *shaped glyphs* are ever drawn.

The shaped result is a plain value (``ShapedRun``: glyph ids, glyph names, advances and
offsets in font units, and the font file), so any painter can use it: the PDF renderer, the
PIL seal drawer, and an OFD writer. HarfBuzz lays Mongolian out horizontally, left to right,
with the font's glyphs drawn for horizontal lines — the vertical script turned a quarter turn,
as Inner Mongolia's signs and documents print it beside Chinese; a quarter turn clockwise
gives back the vertical column.
"""

from __future__ import annotations

import threading
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import uharfbuzz as hb

from certsvc.errors import ConfigurationError
from certsvc.rendering.fonts import FontSpec

__all__ = [
    "FVS",
    "MONGOLIAN_FONT",
    "MVS",
    "NNBSP",
    "Contour",
    "OutlineSegment",
    "ShapedGlyph",
    "ShapedRun",
    "glyph_contours",
    "glyph_outline",
    "has_mongolian_font",
    "mongolian_text_problems",
    "normalise_mongolian",
    "shape_mongolian",
]

MONGOLIAN_FONT = FontSpec(
    Path("/usr/share/fonts/truetype/noto/NotoSansMongolian-Regular.ttf"),
    0,
    "fonts-noto-core",
    "Noto Sans Mongolian",
)

FVS = frozenset("\u180b\u180c\u180d\u180f")  # free variation selectors 1–4
MVS = "\u180e"  # Mongolian vowel separator: a final -a/-e detached from its stem
NNBSP = "\u202f"  # narrow no-break space: joins a case suffix (ᠶᠢᠨ, ᠤᠨ ...) to its word
_ZWJ, _ZWNJ = "\u200d", "\u200c"  # force or break joining, as in any joining script
_SPACE = " "
_MAX_LENGTH = 200

# Outlines are flattened into polygons with this many segments per curve: at seal sizes
# (≤ 2 mm per em at 600 dpi ≈ 50 px) eight segments keep the error below a tenth of a pixel.
_CURVE_STEPS = 8

Contour = tuple[tuple[float, float], ...]
# One drawing step of an exact outline, its operator and points in font units (y up):
# ("M", (x, y)), ("L", (x, y)), ("Q", (cx, cy, x, y)), ("B", (c1x, c1y, c2x, c2y, x, y)) or
# ("C", ()) to close the contour (the operators of GB/T 33190's AbbreviatedData).
OutlineSegment = tuple[str, tuple[float, ...]]


@dataclass(frozen=True, slots=True)
class ShapedGlyph:
    """One glyph of a shaped run; every length is in font units (``ShapedRun.units_per_em``)."""

    glyph_id: int
    name: str  # the font's glyph name, e.g. "u1822.med" (medial I)
    cluster: int  # index into ``ShapedRun.text`` of the first character it draws
    x_advance: int
    y_advance: int
    x_offset: int
    y_offset: int


@dataclass(frozen=True, slots=True)
class ShapedRun:
    """A shaped line of Mongolian: what to draw, independent of any output format."""

    text: str
    font_path: Path
    units_per_em: int
    ascender: int  # font units above the baseline of a horizontal line
    descender: int  # font units below it (negative)
    glyphs: tuple[ShapedGlyph, ...]

    @property
    def advance_units(self) -> int:
        return sum(g.x_advance for g in self.glyphs)

    def width(self, size: float) -> float:
        """Advance width of the whole run at ``size`` (points, pixels — any unit per em)."""
        return self.advance_units * size / self.units_per_em

    def positions(self, size: float) -> list[tuple[int, float, float]]:
        """``(glyph id, x, y)`` of every glyph origin at ``size``, from the run's origin (y up)."""
        scale = size / self.units_per_em
        out: list[tuple[int, float, float]] = []
        pen_x = pen_y = 0
        for g in self.glyphs:
            out.append((g.glyph_id, (pen_x + g.x_offset) * scale, (pen_y + g.y_offset) * scale))
            pen_x += g.x_advance
            pen_y += g.y_advance
        return out

    @property
    def glyph_names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.glyphs)


class _Font:
    """The HarfBuzz face of the Mongolian font, loaded once per process."""

    def __init__(self, spec: FontSpec) -> None:
        if not spec.path.is_file():
            raise ConfigurationError(
                f"font file {spec.path} for {spec.description} is missing; install the Debian "
                f"package {spec.package} (apt-get install {spec.package})"
            )
        blob = hb.Blob.from_file_path(str(spec.path))
        self.spec = spec
        self.face = hb.Face(blob)
        self.font = hb.Font(self.face)
        self.upem = self.face.upem
        extents = self.font.get_font_extents("ltr")
        self.ascender = int(extents.ascender)
        self.descender = int(extents.descender)
        self.cmap = frozenset(self.face.unicodes)
        # HarfBuzz objects are safe to share for shaping once set up; drawing outlines uses
        # per-call state in the pen, but the font's draw funcs are guarded all the same.
        self.draw_lock = threading.Lock()


_lock = threading.Lock()
_loaded: list[_Font] = []


def _font() -> _Font:
    with _lock:
        if not _loaded:
            _loaded.append(_Font(MONGOLIAN_FONT))
        return _loaded[0]


def has_mongolian_font() -> bool:
    """Whether the Mongolian font is installed (its package is a dependency of ``make install``)."""
    return MONGOLIAN_FONT.path.is_file()


def normalise_mongolian(text: str) -> str:
    """NFC, trimmed, runs of ordinary spaces collapsed to one.

    Mongolian letters have no decompositions, but names arrive from many keyboards and
    converters; NFC makes the stored form the one every comparison and the font expect.
    """
    text = unicodedata.normalize("NFC", text).strip()
    return " ".join(part for part in text.split(_SPACE) if part)


def _is_mongolian_letter(ch: str) -> bool:
    return "\u1800" <= ch <= "\u18af" and unicodedata.category(ch).startswith("L")


def mongolian_text_problems(text: str, *, max_length: int = _MAX_LENGTH) -> list[str]:
    """Every problem of an (already normalised) Mongolian name, in reading order; ``[]`` if fine.

    Checked: the script (Mongolian letters and punctuation, FVS/MVS/NNBSP/ZWJ/ZWNJ and spaces
    only), unassigned code points, variation selectors that follow no letter, characters the
    Mongolian font has no glyph for, length.
    """
    problems: list[str] = []
    if not text:
        return ["is empty"]
    if len(text) > max_length:
        problems.append(f"is {len(text)} characters long; at most {max_length}")
    if unicodedata.normalize("NFC", text) != text:
        problems.append("is not in Unicode normal form C")
    foreign: list[str] = []
    unassigned: list[str] = []
    stray_selectors = 0
    for index, ch in enumerate(text):
        if ch in (_SPACE, NNBSP, _ZWJ, _ZWNJ):
            continue
        if not "\u1800" <= ch <= "\u18af":
            if ch not in foreign:
                foreign.append(ch)
            continue
        if unicodedata.category(ch) == "Cn":
            if ch not in unassigned:
                unassigned.append(ch)
            continue
        if ch in FVS and (index == 0 or not _is_mongolian_letter(text[index - 1])):
            # FVS may only follow a letter (Unicode ch. 13.5); elsewhere it selects nothing
            # and hides a typing mistake.
            stray_selectors += 1
    if foreign:
        shown = "、".join(f"“{ch}”(U+{ord(ch):04X})" for ch in foreign[:5])
        problems.append(f"contains characters that are not traditional Mongolian script: {shown}")
    if unassigned:
        shown = "、".join(f"U+{ord(ch):04X}" for ch in unassigned[:5])
        problems.append(f"contains unassigned code points of the Mongolian block: {shown}")
    if stray_selectors:
        problems.append(f"has {stray_selectors} variation selector(s) (FVS) that follow no letter")
    if not any(_is_mongolian_letter(ch) for ch in text):
        problems.append("contains no Mongolian letter")
    if has_mongolian_font():
        cmap = _font().cmap
        missing = [
            ch
            for ch in dict.fromkeys(text)
            if "\u1800" <= ch <= "\u18af"
            and unicodedata.category(ch) != "Cn"
            and ord(ch) not in cmap
        ]
        if missing:
            shown = "、".join(f"U+{ord(ch):04X}" for ch in missing[:5])
            problems.append(
                f"contains characters the Mongolian font ({MONGOLIAN_FONT.description}) cannot draw: {shown}"
            )
    else:
        problems.append(
            f"cannot be checked or drawn: the Mongolian font is not installed "
            f"(Debian package {MONGOLIAN_FONT.package})"
        )
    return problems


@lru_cache(maxsize=512)
def shape_mongolian(text: str) -> ShapedRun:
    """Shape ``text`` with HarfBuzz's Mongolian shaper and Noto Sans Mongolian.

    Cached: licence and seal names repeat across thousands of documents.

    Raises:
        ConfigurationError: the Mongolian font is not installed.
    """
    font = _font()
    buf = hb.Buffer()
    buf.add_str(text)
    buf.direction = "ltr"
    buf.script = "Mong"
    buf.language = "mn"
    hb.shape(font.font, buf, {})
    glyphs = tuple(
        ShapedGlyph(
            glyph_id=info.codepoint,
            name=font.font.glyph_to_string(info.codepoint),
            cluster=info.cluster,
            x_advance=pos.x_advance,
            y_advance=pos.y_advance,
            x_offset=pos.x_offset,
            y_offset=pos.y_offset,
        )
        for info, pos in zip(buf.glyph_infos, buf.glyph_positions, strict=True)
    )
    return ShapedRun(
        text=text,
        font_path=font.spec.path,
        units_per_em=font.upem,
        ascender=font.ascender,
        descender=font.descender,
        glyphs=glyphs,
    )


class _FlatteningPen:
    """A fontTools-protocol pen that records contours as polygons (curves flattened)."""

    def __init__(self) -> None:
        self.contours: list[Contour] = []
        self._current: list[tuple[float, float]] = []

    def moveTo(self, pt: tuple[float, float]) -> None:
        self._flush()
        self._current = [pt]

    def lineTo(self, pt: tuple[float, float]) -> None:
        self._current.append(pt)

    def qCurveTo(self, *points: tuple[float, float]) -> None:
        # HarfBuzz sends one quadratic segment at a time: (control, end).
        start = self._current[-1]
        control, end = points[-2], points[-1]
        for step in range(1, _CURVE_STEPS + 1):
            t = step / _CURVE_STEPS
            a, b, c = (1 - t) ** 2, 2 * (1 - t) * t, t * t
            self._current.append(
                (
                    a * start[0] + b * control[0] + c * end[0],
                    a * start[1] + b * control[1] + c * end[1],
                )
            )

    def curveTo(
        self, c1: tuple[float, float], c2: tuple[float, float], end: tuple[float, float]
    ) -> None:
        start = self._current[-1]
        for step in range(1, _CURVE_STEPS + 1):
            t = step / _CURVE_STEPS
            a, b, c, d = (1 - t) ** 3, 3 * (1 - t) ** 2 * t, 3 * (1 - t) * t * t, t**3
            self._current.append(
                (
                    a * start[0] + b * c1[0] + c * c2[0] + d * end[0],
                    a * start[1] + b * c1[1] + c * c2[1] + d * end[1],
                )
            )

    def closePath(self) -> None:
        self._flush()

    def endPath(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if len(self._current) >= 3:
            self.contours.append(tuple(self._current))
        self._current = []


@lru_cache(maxsize=2048)
def glyph_contours(glyph_id: int) -> tuple[Contour, ...]:
    """The outline of a glyph as closed polygons in font units (y up), curves flattened.

    For painters without a font engine (the PIL seal drawer). Filled with the non-zero winding
    rule, as TrueType outlines are.
    """
    font = _font()
    pen = _FlatteningPen()
    with font.draw_lock:
        font.font.draw_glyph_with_pen(glyph_id, pen)
    pen.endPath()
    return tuple(pen.contours)


class _RecordingPen:
    """A fontTools-protocol pen that keeps the outline exactly (curves as curves)."""

    def __init__(self) -> None:
        self.segments: list[OutlineSegment] = []

    def moveTo(self, pt: tuple[float, float]) -> None:
        self.segments.append(("M", pt))

    def lineTo(self, pt: tuple[float, float]) -> None:
        self.segments.append(("L", pt))

    def qCurveTo(self, *points: tuple[float, float]) -> None:
        # HarfBuzz sends one quadratic segment at a time: (control, end).
        self.segments.append(("Q", (*points[-2], *points[-1])))

    def curveTo(self, c1: tuple[float, float], c2: tuple[float, float], end: tuple[float, float]) -> None:
        self.segments.append(("B", (*c1, *c2, *end)))

    def closePath(self) -> None:
        self.segments.append(("C", ()))

    def endPath(self) -> None:
        """An open contour (none in TrueType outlines): nothing to close."""


@lru_cache(maxsize=2048)
def glyph_outline(glyph_id: int) -> tuple[OutlineSegment, ...]:
    """The exact outline of a glyph in font units (y up), for vector outputs (OFD paths).

    Filled with the non-zero winding rule, as TrueType outlines are.
    """
    font = _font()
    pen = _RecordingPen()
    with font.draw_lock:
        font.font.draw_glyph_with_pen(glyph_id, pen)
    return tuple(pen.segments)
