"""CJK fonts for licences: registration with reportlab and glyph coverage checks.

Licences must print the same everywhere and survive decades of archiving, so every font is
a TrueType font *embedded as a subset* (reportlab ``TTFont``). The non-embedded CID fonts
(``UnicodeCIDFont('STSong-Light')``) are deliberately not used: a reader without the Adobe
Asian font pack substitutes whatever it has, and PDF/A forbids non-embedded fonts.

Fonts are registered once per process and cached: parsing ``uming.ttc`` costs ~50 ms, more than
a whole render. Subsetting happens per document inside reportlab.

Rare characters: the AR PL faces cover GB 2312 and most of GBK, but not CJK Extension B and
later, where some personal names live (𠮷 U+20BB7), and 楷体 lacks a few GBK characters (犇).
Such a character is drawn, one by one, from a single **fallback** face — BabelStone Han, a
宋体-style TrueType font with mainland glyph shapes covering Extensions A–H (Debian
``fonts-babelstone-han``; its OpenType/CFF rivals cannot be embedded by reportlab). It is loaded
lazily, on the first character the template font lacks, because it is a 50 MB file. Without
it such characters are refused, as before, with the package named.
"""

from __future__ import annotations

import threading
import unicodedata
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reportlab.pdfbase import pdfdoc, pdfmetrics, ttfonts
from reportlab.pdfbase.ttfonts import TTFont

from certsvc.errors import ConfigurationError

__all__ = [
    "DEFAULT_FONTS",
    "FALLBACK_FONT",
    "FONT_KEYS",
    "FontSpec",
    "fallback_available",
    "font_name",
    "font_path",
    "generation",
    "has_glyph",
    "missing_glyphs",
    "register_fonts",
    "runs",
    "string_width",
]


@dataclass(frozen=True, slots=True)
class FontSpec:
    """One face of a TrueType collection and the Debian package that ships it."""

    path: Path
    subfont_index: int
    package: str
    description: str


# Keys used by templates ("font": "song"). The CN faces (index 0 of the arphic collections) use
# mainland glyph shapes, which is what GB/T 9704 expects of official documents.
DEFAULT_FONTS: Mapping[str, FontSpec] = {
    "song": FontSpec(
        Path("/usr/share/fonts/truetype/arphic/uming.ttc"),
        0,
        "fonts-arphic-uming",
        "宋体 (AR PL UMing CN)",
    ),
    "kai": FontSpec(
        Path("/usr/share/fonts/truetype/arphic/ukai.ttc"),
        0,
        "fonts-arphic-ukai",
        "楷体 (AR PL UKai CN)",
    ),
    "hei": FontSpec(
        Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"),
        0,
        "fonts-wqy-zenhei",
        "黑体 (WenQuanYi Zen Hei)",
    ),
}
FONT_KEYS: frozenset[str] = frozenset(DEFAULT_FONTS)
FALLBACK_FONT = FontSpec(
    Path("/usr/share/fonts/truetype/babelstone/BabelStoneHan.ttf"),
    0,
    "fonts-babelstone-han",
    "BabelStone Han (宋体 style, CJK Extensions A–H)",
)
_FALLBACK_KEY = "fallback"  # not a template font key: templates cannot choose it

_lock = threading.Lock()
_registered: dict[str, TTFont] = {}
_specs: dict[str, FontSpec] = dict(DEFAULT_FONTS)
_fallback: list[TTFont | None] = []  # empty: not tried yet; [None]: not installed
_loads = [0]  # fonts loaded so far: a new number means new reportlab font objects

# Characters that are layout, not ink: they never need a glyph.
_LAYOUT_CHARS = frozenset("\n\r\t")


def _reportlab_name(key: str) -> str:
    return f"certsvc-{key}"


def register_fonts(overrides: Mapping[str, FontSpec] | None = None) -> None:
    """Register every font with reportlab (idempotent, thread-safe).

    ``overrides`` replaces the default font files (from Settings at the edge); calling again
    with other overrides re-registers those keys.

    Raises:
        ConfigurationError: a font file is missing or unreadable; names the path and package.
    """
    with _lock:
        # reportlab looks the function up by its module global at each document save.
        ttfonts.makeToUnicodeCMap = _to_unicode_cmap
        if overrides:
            for key, spec in overrides.items():
                if key not in FONT_KEYS:
                    raise ConfigurationError(
                        f"unknown font key {key!r}; known: {sorted(FONT_KEYS)}"
                    )
                if _specs.get(key) != spec:
                    _specs[key] = spec
                    _registered.pop(key, None)
        problems = []
        for key, spec in _specs.items():
            if key in _registered:
                continue
            try:
                font = _load(key, spec)
            except ConfigurationError as exc:
                problems.append(exc.message)
                continue
            _registered[key] = font
        if problems:
            raise ConfigurationError(
                "; ".join(problems), details=[{"problem": p} for p in problems]
            )


def _to_unicode_cmap(fontname: str, subset: list[int]) -> str:
    """reportlab's ToUnicode CMap, with characters beyond U+FFFF written as UTF-16BE pairs.

    reportlab formats each code point as ``<%04X>``, which gives ``<20BB7>`` for 𠮷: an odd-length
    hex string that readers take as U+20BB, so search and copy-paste turned 𠮷 into ₻.
    ISO 32000-1 §9.10.3: the destination of a bfchar mapping is UTF-16BE.
    """
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        "/CIDSystemInfo",
        f"<< /Registry ({fontname})",
        f"/Ordering ({fontname})",
        "/Supplement 0",
        ">> def",
        f"/CMapName /{fontname} def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        f"<00> <{len(subset) - 1:02X}>",
        "endcodespacerange",
        f"{len(subset)} beginbfchar",
        *(f"<{i:02X}> <{chr(v).encode('utf-16-be').hex().upper()}>" for i, v in enumerate(subset)),
        "endbfchar",
        "endcmap",
        "CMapName currentdict /CMap defineresource pop",
        "end",
        "end",
    ]
    return "\n".join(lines)


def _load(key: str, spec: FontSpec) -> TTFont:
    if not spec.path.is_file():
        raise ConfigurationError(
            f"font file {spec.path} for {spec.description} is missing; "
            f"install the Debian package {spec.package} (apt-get install {spec.package})"
        )
    try:
        font = TTFont(_reportlab_name(key), str(spec.path), subfontIndex=spec.subfont_index)
    except Exception as exc:  # reportlab raises TTFError and plain errors for damaged files
        raise ConfigurationError(
            f"font file {spec.path} (package {spec.package}) cannot be used: {exc}"
        ) from exc
    _serialise_subsetting(font)
    pdfmetrics.registerFont(font)
    _loads[0] += 1
    return font


def generation() -> int:
    """Changes whenever a font is (re)loaded: what was prepared with the old fonts is stale."""
    return _loads[0]


def _serialise_subsetting(font: TTFont) -> None:
    """Let one thread at a time cut subsets from ``font``'s face, and cut each subset once.

    A registered font is shared by every document rendered in the process, and reportlab's
    ``TTFontFile.makeSubset`` walks composite glyphs (i, j, accented letters) by seeking a file
    position stored on the face: two documents saved at once move each other's position and
    read the wrong glyph, which ends in ``KeyError`` (a failed issuance) or a wrong subset.
    A lock per face costs little; separate faces (song, kai, fallback) still subset in parallel.

    Subsetting is also the largest part of a render, for two reasons fixed here:

    * ``get_table`` returns a fresh copy of the table it is asked for, and ``makeSubset`` asks
      for the whole ``glyf`` table (megabytes of a CJK face) to cut a few dozen glyphs from.
      The face's tables never change, so small tables are copied once and ``glyf`` is read in
      place (``_TableView``).
    * The electronic and the print copy of a licence use the same characters in the same order
      (``painter.py``), so their subsets are equal: the last few subsets are kept and reused.
    """
    face = font.face
    subset = face.makeSubset
    get_table = face.get_table
    lock = threading.Lock()
    tables: dict[str, bytes | _TableView] = {}
    made: OrderedDict[tuple[int, ...], bytes] = OrderedDict()

    def cached_table(tag: str) -> bytes | _TableView:
        table = tables.get(tag)
        if table is None:
            if tag == "glyf":
                start, length = face.get_table_pos(tag)
                table = _TableView(face._ttf_data, start, length)
            else:
                table = bytes(get_table(tag))
            tables[tag] = table
        return table

    def locked_subset(codes: list[int]) -> bytes:
        key = tuple(codes)
        with lock:
            data = made.get(key)
            if data is None:
                data = made[key] = bytes(subset(codes))
                while len(made) > _SUBSETS_KEPT:
                    made.popitem(last=False)
            else:
                made.move_to_end(key)
            return data

    add_subset_objects = face.addSubsetObjects

    def add_subset_with_kept_compression(doc: Any, fontname: str, codes: list[int]) -> Any:
        descriptor = add_subset_objects(doc, fontname, codes)
        font_file = doc.idToObject.get(f"fontFile:{face.filename}({fontname})")
        if font_file is not None and font_file.filters == [pdfdoc.PDFZCompress]:
            font_file.filters = [_KEPT_FLATE]
        return descriptor

    face.get_table = cached_table
    face.makeSubset = locked_subset
    face.addSubsetObjects = add_subset_with_kept_compression


# Subsets kept per face: the two copies of one licence, with room for a few renders at once.
_SUBSETS_KEPT = 8


class _KeptFlate:
    """reportlab's Flate filter for embedded font files, compressing each distinct file once:
    a licence's two copies embed the same subsets (``pdf_variants.py``)."""

    pdfname = "FlateDecode"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[bytes, bytes] = OrderedDict()

    def encode(self, data: bytes) -> bytes:
        with self._lock:
            packed = self._kept.get(data)
            if packed is not None:
                self._kept.move_to_end(data)
                return packed
        packed = bytes(pdfdoc.PDFZCompress.encode(data))
        with self._lock:
            self._kept[data] = packed
            while len(self._kept) > _SUBSETS_KEPT:
                self._kept.popitem(last=False)
        return packed

    def decode(self, encoded: bytes) -> bytes:
        return bytes(pdfdoc.PDFZCompress.decode(encoded))


_KEPT_FLATE = _KeptFlate()


class _TableView:
    """A table of a font file read in place: slicing gives ``bytes`` (what ``makeSubset`` does
    with ``glyf``) without copying the whole table first."""

    __slots__ = ("_data", "_length", "_start")

    def __init__(self, data: bytes, start: int, length: int) -> None:
        self._data, self._start, self._length = data, start, length

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: slice) -> bytes:
        begin, end, step = index.indices(self._length)
        if step != 1:
            raise ValueError("font tables are read in contiguous slices")
        return self._data[self._start + begin : self._start + max(begin, end)]


def _font(key: str) -> TTFont:
    font = _registered.get(key)
    if font is None:
        register_fonts()
        font = _registered.get(key)
        if font is None:  # pragma: no cover - register_fonts raises first
            raise ConfigurationError(f"unknown font key {key!r}")
    return font


def font_name(key: str) -> str:
    """The reportlab font name for a template font key, registering fonts on first use."""
    _font(key)
    return _reportlab_name(key)


def font_path(key: str) -> Path:
    """The font file behind a key (for PIL, which draws seals with the same faces)."""
    return _specs[key].path


def _fallback_font() -> TTFont | None:
    """The fallback face, loaded on first use; ``None`` when its package is not installed."""
    with _lock:
        if not _fallback:
            try:
                _fallback.append(_load(_FALLBACK_KEY, FALLBACK_FONT))
            except ConfigurationError:
                _fallback.append(None)
        return _fallback[0]


def fallback_available() -> bool:
    """Whether rare characters can be drawn (the fallback font is installed)."""
    return _fallback_font() is not None


def _printable(ch: str) -> bool:
    # Control, format, surrogate, private-use and unassigned code points never print as
    # intended even when a font happens to map them.
    return unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")


def _in_font(font: TTFont, ch: str) -> bool:
    """Whether ``font`` maps ``ch`` to a glyph that draws something.

    A mapped glyph is not enough: AR PL UKai maps 䶮 (U+4DAE) and some fifty other characters
    to glyphs without a single contour, which print as blank space. Space characters are the
    one kind whose right glyph is empty.
    """
    known = _inked.get(font)
    if known is None:
        known = _inked.setdefault(font, {})
    answer = known.get(ch)
    if answer is None:
        gid = font.face.charToGlyph.get(ord(ch), 0)
        answer = gid != 0 and (unicodedata.category(ch) == "Zs" or _has_outline(font, gid))
        known[ch] = answer  # a face never changes: each character is looked at once per process
    return answer


# font → {character: draws ink}; layout measures every string several times per render.
_inked: weakref.WeakKeyDictionary[TTFont, dict[str, bool]] = weakref.WeakKeyDictionary()
# font → characters known to draw ink (or to be layout): a set, so a whole string is checked in C.
_drawable: weakref.WeakKeyDictionary[TTFont, set[str]] = weakref.WeakKeyDictionary()


def _has_outline(font: TTFont, gid: int) -> bool:
    # glyf data of a glyph: empty (loca gives zero length) or a header whose numberOfContours
    # is 0 means no ink; -1 is a composite glyph, drawn from others (TrueType 'glyf' spec).
    face = font.face
    start, end = face.glyphPos[gid], face.glyphPos[gid + 1]
    if end - start < 2:
        return False
    offset = face.table["glyf"]["offset"] + start
    contours = int.from_bytes(face._ttf_data[offset : offset + 2], "big", signed=True)
    return contours != 0


def _fallback_eligible(ch: str) -> bool:
    """Only Han characters come from the fallback face: it exists for rare characters in names.

    BabelStone Han also maps emoji and other symbols; printing those on a licence would hide a
    data-entry problem, so they stay refused.
    """
    return unicodedata.name(ch, "").startswith(
        ("CJK UNIFIED IDEOGRAPH", "CJK COMPATIBILITY IDEOGRAPH")
    )


def has_glyph(ch: str, font: str = "song", *, fallback: bool = True) -> bool:
    """Whether ``ch`` (one character) can be drawn with a real glyph, not .notdef.

    With ``fallback`` (the default, what the licence renderer does) a character the font lacks
    counts when the fallback face has it; callers that draw with one face only (PIL seals)
    pass ``fallback=False``.
    """
    if ch in _LAYOUT_CHARS:
        return True
    if not _printable(ch):
        return False
    if _in_font(_font(font), ch):
        return True
    if not fallback or not _fallback_eligible(ch):
        return False
    extra = _fallback_font()
    return extra is not None and _in_font(extra, ch)


def missing_glyphs(
    text: str, fonts: str | Iterable[str] = "song", *, fallback: bool = True
) -> list[str]:
    """Distinct characters of ``text`` that one of ``fonts`` cannot draw, in order of appearance."""
    keys = (fonts,) if isinstance(fonts, str) else tuple(fonts)
    seen: set[str] = set()
    missing: list[str] = []
    for ch in text:
        if ch in seen:
            continue
        seen.add(ch)
        if not all(has_glyph(ch, key, fallback=fallback) for key in keys):
            missing.append(ch)
    return missing


def runs(text: str, font: str) -> list[tuple[str, str]]:
    """``text`` cut into ``(reportlab font name, substring)`` runs: the template font, and the
    fallback face for each stretch of characters the template font has no glyph for.

    Characters neither face has stay in the template font's runs; the renderer refuses them
    before drawing, so this only happens for measuring.
    """
    primary = _font(font)
    drawable = _drawable.get(primary)
    if drawable is None:
        drawable = _drawable.setdefault(primary, set(_LAYOUT_CHARS))
    if drawable.issuperset(text):
        return [(_reportlab_name(font), text)]  # the common case: one run, no fallback lookups
    if all(ch in drawable or _in_font(primary, ch) for ch in text):
        drawable.update(text)
        return [(_reportlab_name(font), text)]
    extra = _fallback_font()
    out: list[tuple[str, str]] = []
    for ch in text:
        use_fallback = (
            extra is not None
            and _fallback_eligible(ch)
            and not _in_font(primary, ch)
            and _in_font(extra, ch)
        )
        name = _reportlab_name(_FALLBACK_KEY if use_fallback else font)
        if out and out[-1][0] == name:
            out[-1] = (name, out[-1][1] + ch)
        else:
            out.append((name, ch))
    return out


def string_width(text: str, font: str, size: float) -> float:
    """Advance width of ``text`` in points (reportlab metrics, fallback face included)."""
    return float(sum(pdfmetrics.stringWidth(run, name, size) for name, run in runs(text, font)))
