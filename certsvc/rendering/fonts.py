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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics, ttfonts
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
    return font


def _serialise_subsetting(font: TTFont) -> None:
    """Let one thread at a time cut subsets from ``font``'s face.

    A registered font is shared by every document rendered in the process, and reportlab's
    ``TTFontFile.makeSubset`` walks composite glyphs (i, j, accented letters) by seeking a file
    position stored on the face: two documents saved at once move each other's position and
    read the wrong glyph, which ends in ``KeyError`` (a failed issuance) or a wrong subset.
    Subsetting is a few milliseconds per document, so a lock per face costs little; separate
    faces (song, kai, fallback) still subset in parallel.
    """
    face = font.face
    subset = face.makeSubset
    lock = threading.Lock()

    def locked_subset(codes: list[int]) -> bytes:
        with lock:
            return bytes(subset(codes))

    face.makeSubset = locked_subset


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
    gid = font.face.charToGlyph.get(ord(ch), 0)
    if gid == 0:
        return False
    return unicodedata.category(ch) == "Zs" or _has_outline(font, gid)


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
    if all(ch in _LAYOUT_CHARS or _in_font(primary, ch) for ch in text):
        return [(_reportlab_name(font), text)]  # the common case: one run, no fallback lookups
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
