"""A licence as positioned marks: what the OFD writer draws, in OFD's own units.

OFD (GB/T 33190 §7.3) measures in millimetres from the top-left corner of the page, y growing
downwards; so does everything here. Text is kept with the exact advance of every character, so
any reader lays it out the way the PDF does, whatever metrics it has for the embedded font.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ImageMark", "LicenceScene", "PageScene", "PathMark", "Rgb", "TextMark"]

Rgb = tuple[int, int, int]  # 0–255 per channel, as OFD's Color Value="r g b"


@dataclass(frozen=True, slots=True)
class TextMark:
    """One run of text in one font: baseline origin ``(x, y)``, advances between characters."""

    x: float
    y: float
    text: str
    font: str  # the reportlab font name (certsvc-song ...), resolved to a file by the writer
    size: float  # em size in millimetres
    advances: tuple[float, ...]  # distance from each character to the next (len(text) - 1)
    fill: Rgb
    is_bold: bool = False  # drawn filled and stroked (the PDF's text render mode 2)
    stroke_width: float = 0.0
    is_invisible: bool = False  # neither filled nor stroked: a text layer under drawn glyphs


@dataclass(frozen=True, slots=True)
class PathMark:
    """A path in OFD abbreviated syntax (``M x y L x y ... C``), absolute page coordinates."""

    data: str
    line_width: float
    stroke: Rgb | None
    fill: Rgb | None


@dataclass(frozen=True, slots=True)
class ImageMark:
    x: float
    y: float
    width: float
    height: float
    data: bytes  # the original PNG or JPEG file


@dataclass(frozen=True, slots=True)
class PageScene:
    marks: tuple[TextMark | PathMark | ImageMark, ...]


@dataclass(frozen=True, slots=True)
class LicenceScene:
    """Every page of the electronic licence, plus where the seal goes (left empty, like the PDF)."""

    width: float
    height: float
    pages: tuple[PageScene, ...]
    seal_page: int
    seal_box: tuple[float, float, float, float]  # x, y, width, height
