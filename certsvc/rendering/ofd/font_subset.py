"""Embedded font subsets for OFD: a TrueType file with just the characters a licence prints.

GB/T 33190 §11.1 lets a document carry its font files (``FontFile``), and a licence must look the
same on every reader, so every face used is embedded. The subset keeps the font's own Unicode
``cmap``: an OFD ``TextCode`` holds the characters themselves, which readers map to glyphs through
that table (a renumbered subset would need ``CGTransform`` tables that not every reader honours).
"""

from __future__ import annotations

import functools
import io
import logging

from fontTools import subset
from fontTools.ttLib import TTFont

from certsvc.errors import RenderingError
from certsvc.rendering.fonts import FontSpec

__all__ = ["font_family_name", "subset_font"]

# fontTools reports every table it drops (bitmap strikes, FontForge timestamps) as a warning.
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)


def _options() -> subset.Options:
    options = subset.Options()
    options.hinting = False  # readers rasterise at screen and print sizes without the hints
    options.layout_features = []  # no shaping: CJK licence text is drawn character by character
    options.name_IDs = [1, 2, 3, 4, 6]  # family, style, unique id, full name, PostScript name
    options.name_languages = ["*"]
    options.notdef_outline = True
    options.glyph_names = False
    options.recalc_timestamp = False  # the same input gives the same bytes
    options.drop_tables += ["DSIG", "BDF", "FFTM", "EBDT", "EBLC", "EBSC"]
    return options


def _open(spec: FontSpec) -> TTFont:
    return TTFont(str(spec.path), fontNumber=spec.subfont_index, lazy=True, recalcTimestamp=False)


@functools.lru_cache(maxsize=16)
def font_family_name(spec: FontSpec) -> str:
    """The face's family name from its ``name`` table (what OFD's ``FontName`` carries)."""
    name = _open(spec)["name"]
    return str(name.getBestFamilyName() or spec.path.stem)


def subset_font(spec: FontSpec, characters: str) -> bytes:
    """A TrueType font with the glyphs of ``characters`` (plus .notdef), deterministic bytes.

    Raises:
        RenderingError: the font file cannot be read or subset.
    """
    try:
        font = _open(spec)
        subsetter = subset.Subsetter(_options())
        subsetter.populate(text=characters)
        subsetter.subset(font)
        out = io.BytesIO()
        font.save(out)
    except Exception as exc:  # fontTools raises many types for damaged files
        raise RenderingError(f"the font {spec.path.name} cannot be embedded") from exc
    return out.getvalue()
