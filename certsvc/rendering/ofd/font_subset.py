"""Embedded font subsets for OFD: a TrueType file with just the characters a licence prints.

GB/T 33190 §11.1 lets a document carry its font files (``FontFile``), and a licence must look the
same on every reader, so every face used is embedded. An OFD ``TextCode`` holds the characters
themselves, which readers map to glyphs through the font's Unicode ``cmap`` (a renumbered subset
would need ``CGTransform`` tables that not every reader honours).

The glyphs are cut by reportlab's subsetter, from the face the PDF renderer has already parsed
(about 10 ms, where parsing a CJK collection again would cost ten times more); its subsets map
one-byte PDF codes to glyphs, so the ``cmap`` is then rewritten to map Unicode: format 4 for the
Basic Multilingual Plane, format 12 for every plane (rare characters in names, CJK Ext. B+).
"""

from __future__ import annotations

import io
import logging
from functools import lru_cache

from fontTools.ttLib import TTFont, newTable
from fontTools.ttLib.tables._c_m_a_p import CmapSubtable
from reportlab.pdfbase import pdfmetrics

from certsvc.errors import RenderingError

__all__ = ["EmbeddedFont", "subset_font", "subset_font_cached"]

logging.getLogger("fontTools").setLevel(logging.ERROR)


class EmbeddedFont:
    """A subset font file and the family name readers show (OFD ``FontName``)."""

    __slots__ = ("data", "family")

    def __init__(self, data: bytes, family: str) -> None:
        self.data = data
        self.family = family


def _unicode_cmap(mapping: dict[int, str]) -> object:
    table = newTable("cmap")
    table.tableVersion = 0
    table.tables = []
    for fmt, encoding, entries in (
        (4, 1, {code: glyph for code, glyph in mapping.items() if code <= 0xFFFF}),
        (12, 10, dict(mapping)),
    ):
        subtable = CmapSubtable.newSubtable(fmt)
        subtable.platformID, subtable.platEncID, subtable.language = 3, encoding, 0
        subtable.cmap = entries
        table.tables.append(subtable)
    return table


def subset_font(font_name: str, characters: str) -> EmbeddedFont:
    """The glyphs of ``characters`` from a registered reportlab font, with a Unicode ``cmap``.

    Raises:
        RenderingError: the font is not registered or cannot be subset.
    """
    try:
        # The shared face's makeSubset is serialised per face (rendering/fonts.py): the PDF
        # renderer may be subsetting the same face in another thread.
        face = pdfmetrics.getFont(font_name).face
        codes = sorted({ord(ch) for ch in characters if face.charToGlyph.get(ord(ch))})
        font = TTFont(
            io.BytesIO(face.makeSubset(codes)), recalcTimestamp=False
        )  # same input, same bytes
        by_position = font["cmap"].getcmap(1, 0).cmap  # reportlab: subset position → glyph
        font["cmap"] = _unicode_cmap(
            {codes[pos]: glyph for pos, glyph in by_position.items() if pos < len(codes)}
        )
        family = str(font["name"].getBestFamilyName() or font_name)
        out = io.BytesIO()
        font.save(out)
    except Exception as exc:  # reportlab and fontTools raise many types for damaged fonts
        raise RenderingError(f"the font {font_name} cannot be embedded") from exc
    return EmbeddedFont(out.getvalue(), family)


@lru_cache(maxsize=32)
def subset_font_cached(font_name: str, characters: str) -> EmbeddedFont:
    """:func:`subset_font` for text that repeats from licence to licence (a department's
    Mongolian name), kept per (font, characters); holders' names and addresses vary too much
    for a cache to pay.

    Raises:
        RenderingError: as :func:`subset_font`.
    """
    return subset_font(font_name, "".join(sorted(set(characters))))
