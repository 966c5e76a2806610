"""CJK fonts for licences: registration with reportlab and glyph coverage checks.

Licences must print the same everywhere and survive decades of archiving, so every font is
a TrueType font *embedded as a subset* (reportlab ``TTFont``). The non-embedded CID fonts
(``UnicodeCIDFont('STSong-Light')``) are deliberately not used: a reader without the Adobe
Asian font pack substitutes whatever it has, and PDF/A forbids non-embedded fonts.

Fonts are registered once per process and cached: parsing ``uming.ttc`` costs ~50 ms, more than
a whole render. Subsetting happens per document inside reportlab.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from certsvc.errors import ConfigurationError

__all__ = [
    "DEFAULT_FONTS",
    "FONT_KEYS",
    "FontSpec",
    "font_name",
    "font_path",
    "has_glyph",
    "missing_glyphs",
    "register_fonts",
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

_lock = threading.Lock()
_registered: dict[str, TTFont] = {}
_specs: dict[str, FontSpec] = dict(DEFAULT_FONTS)

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
    pdfmetrics.registerFont(font)
    return font


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


def has_glyph(ch: str, font: str = "song") -> bool:
    """Whether the font can draw ``ch`` (a single character) with a real glyph, not .notdef."""
    if ch in _LAYOUT_CHARS:
        return True
    if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn"):
        # Control, format, surrogate, private-use and unassigned code points never print as
        # intended even when a font happens to map them.
        return False
    return bool(_font(font).face.charToGlyph.get(ord(ch), 0) != 0)


def missing_glyphs(text: str, fonts: str | Iterable[str] = "song") -> list[str]:
    """Distinct characters of ``text`` that one of ``fonts`` cannot draw, in order of appearance."""
    keys = (fonts,) if isinstance(fonts, str) else tuple(fonts)
    seen: set[str] = set()
    missing: list[str] = []
    for ch in text:
        if ch in seen:
            continue
        seen.add(ch)
        if not all(has_glyph(ch, key) for key in keys):
            missing.append(ch)
    return missing


def string_width(text: str, font: str, size: float) -> float:
    """Advance width of ``text`` in points (reportlab metrics of the registered font)."""
    return float(pdfmetrics.stringWidth(text, font_name(font), size))
