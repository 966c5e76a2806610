"""Shaped Mongolian on an OFD page: the glyphs as filled paths, the letters as invisible text.

An OFD ``TextCode`` holds characters and leaves the choice of glyphs to the reader, and a
reader that does not shape Mongolian draws isolated letters in a row; ``CGTransform`` can pin
glyph ids, but not every reader honours it. So the glyphs HarfBuzz chose (the same glyphs as
in the PDF and on the seal) are drawn as their exact outlines, one ``PathObject`` per line,
and the string itself lies under them in a ``TextObject`` with ``Fill="false"`` (GB/T 33190's
text object is filled by default and stroked only on request, so this one paints nothing), set
in an embedded subset of the Mongolian font: readers extract, search and copy the Mongolian
text from it, variation selectors, MVS and NNBSP included, as they do from the PDF's ActualText.
"""

from __future__ import annotations

from functools import lru_cache

from certsvc.domain.ofd_xml import ofd_number
from certsvc.rendering.mongolian import ShapedRun, glyph_outline
from certsvc.rendering.ofd.scene import PathMark, Rgb, TextMark

__all__ = ["shaped_run_marks"]

_POINTS_PER_MM = 72 / 25.4


@lru_cache(maxsize=256)  # a department's name is drawn at the same place on every licence
def _outline_data(run: ShapedRun, left_mm: float, baseline_mm: float, size_pt: float) -> str:
    """The run's glyph outlines in OFD abbreviated path syntax, millimetres from the top-left."""
    scale = size_pt / run.units_per_em / _POINTS_PER_MM  # font units → mm
    parts: list[str] = []
    pen_x = pen_y = 0
    for glyph in run.glyphs:
        origin_x = left_mm + (pen_x + glyph.x_offset) * scale
        origin_y = baseline_mm - (pen_y + glyph.y_offset) * scale  # font y grows up, OFD y down
        for operator, coords in glyph_outline(glyph.glyph_id):
            points = " ".join(
                f"{ofd_number(origin_x + coords[i] * scale)} {ofd_number(origin_y - coords[i + 1] * scale)}"
                for i in range(0, len(coords), 2)
            )
            parts.append(f"{operator} {points}" if points else operator)
        pen_x += glyph.x_advance
        pen_y += glyph.y_advance
    return " ".join(parts)


def shaped_run_marks(
    run: ShapedRun, *, left_mm: float, baseline_mm: float, size_pt: float, fill: Rgb, font: str
) -> tuple[PathMark, TextMark]:
    """The drawn glyphs and the invisible text of one shaped line starting at ``left_mm``.

    ``font`` is the reportlab name of the Mongolian font (the writer embeds its subset).
    """
    width_mm = run.width(size_pt) / _POINTS_PER_MM
    path = PathMark(_outline_data(run, left_mm, baseline_mm, size_pt), 0.0, None, fill)
    # The letters outnumber the glyphs (ligatures, selectors); spread them over the line so a
    # reader's selection covers what is drawn.
    step = width_mm / max(1, len(run.text))
    text = TextMark(
        x=left_mm,
        y=baseline_mm,
        text=run.text,
        font=font,
        size=size_pt / _POINTS_PER_MM,
        advances=tuple(step for _ in run.text[1:]),
        fill=fill,
        is_invisible=True,
    )
    return path, text
