"""Drawing shaped Mongolian into a reportlab PDF: an embedded subset font plus a text layer.

reportlab subsets a TrueType font by *character*, but shaped Mongolian is a sequence of
*glyphs* (positional forms and ligatures that no code point maps to). The Mongolian font is
therefore registered as its own reportlab font in which every glyph id ``g`` is reachable as
the private-use character ``U+F0000 + g``; drawing those characters shows exactly the glyphs
HarfBuzz chose, and reportlab embeds a subset of the real font (``pdffonts`` lists it).

Two text layers make the page searchable and copyable as Mongolian:
* the subset's ``ToUnicode`` CMap maps each glyph back to the letters it draws (read from the
  font's glyph names, ``u182A_1822.ini`` → ᠪᠢ), so even readers without ActualText support
  extract the letters;
* each run is wrapped in a marked-content span with ``/ActualText`` (ISO 32000-1 §14.9.4)
  holding the exact original string, variation selectors and NNBSP included; ``pdftotext``
  and Acrobat use it in preference.
"""

from __future__ import annotations

import re
import threading

import uharfbuzz as hb
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.pdfdoc import PDFDocument
from reportlab.pdfbase.ttfonts import SUBSETN, TTFont
from reportlab.pdfgen.canvas import Canvas

from certsvc.rendering.mongolian import (
    MONGOLIAN_FONT,
    ShapedRun,
    has_mongolian_font,
    shape_mongolian,
)

__all__ = ["MONGOLIAN_PDF_FONT", "draw_mongolian", "mongolian_width", "register_mongolian_pdf_font"]

MONGOLIAN_PDF_FONT = "certsvc-mongolian"
_GLYPH_BASE = 0xF0000  # Supplementary Private Use Area-A: never real text, room for 65 534 glyphs
_NAMED = {"space": " ", "NNBSP": "\u202f", "MVS": "\u180e", "ZWJ": "\u200d", "ZWNJ": "\u200c"}
_NAMED.update({f"FVS{i}": chr(0x180A + i) for i in (1, 2, 3)})
_HEX_PART = re.compile(r"^(?:u|uni)?([0-9A-F]{4,6})$")


class _GlyphAddressedFont(TTFont):  # type: ignore[misc]  # reportlab ships no type hints
    """The Mongolian TrueType font with each glyph id addressable as a private-use character."""

    def __init__(self) -> None:
        super().__init__(MONGOLIAN_PDF_FONT, str(MONGOLIAN_FONT.path))
        face = self.face
        nominal: dict[int, str] = {}
        for code, gid in sorted(face.charToGlyph.items()):
            nominal.setdefault(gid, chr(code))
        self.glyph_text: dict[int, str] = {}
        for gid, (name, advance) in enumerate(_glyph_table()):
            code = _GLYPH_BASE + gid
            face.charToGlyph[code] = gid
            face.charWidths[code] = advance
            self.glyph_text[code] = _text_of(name) or nominal.get(gid, "\ufffd")

    def addObjects(self, doc: PDFDocument) -> None:
        """reportlab's subset objects, with a ToUnicode CMap from glyph ids to letters."""
        state = self.state.get(doc)
        subsets = [list(s) for s in state.subsets] if state is not None else []
        super().addObjects(doc)
        for index, subset in enumerate(subsets):
            base = b"".join((SUBSETN(index), b"+", self.face.name, self.face.subfontNameX)).decode(
                "pdfdoc"
            )
            stream = doc.idToObject.get("toUnicodeCMap:" + base)
            if stream is not None:
                stream.content = _to_unicode(
                    base, [self.glyph_text.get(code, chr(code)) for code in subset]
                )


def _glyph_table() -> list[tuple[str, float]]:
    """Name and advance (thousandths of an em, reportlab's width unit) of every glyph."""
    font = hb.Font(hb.Face(hb.Blob.from_file_path(str(MONGOLIAN_FONT.path))))
    upem = font.face.upem
    return [
        (font.glyph_to_string(gid), font.get_glyph_h_advance(gid) * 1000 / upem)
        for gid in range(font.face.glyph_count)
    ]


def _text_of(name: str) -> str | None:
    """The letters a glyph draws, from its production name (``u182A_1822.ini`` → "\\u182a\\u1822")."""
    base = name.split(".", 1)[0]
    if base in _NAMED:
        return _NAMED[base]
    chars = []
    for part in base.split("_"):
        match = _HEX_PART.match(part)
        if match is None:
            return None
        chars.append(chr(int(match.group(1), 16)))
    return "".join(chars) or None


def _to_unicode(fontname: str, texts: list[str]) -> str:
    # ISO 32000-1 §9.10.3: bfchar destinations are UTF-16BE strings, several characters allowed.
    lines = [
        "/CIDInit /ProcSet findresource begin",
        "12 dict begin",
        "begincmap",
        f"/CIDSystemInfo << /Registry ({fontname}) /Ordering ({fontname}) /Supplement 0 >> def",
        f"/CMapName /{fontname} def",
        "/CMapType 2 def",
        "1 begincodespacerange",
        f"<00> <{len(texts) - 1:02X}>",
        "endcodespacerange",
        f"{len(texts)} beginbfchar",
        *(f"<{i:02X}> <{t.encode('utf-16-be').hex().upper()}>" for i, t in enumerate(texts)),
        "endbfchar",
        "endcmap",
        "CMapName currentdict /CMap defineresource pop",
        "end",
        "end",
    ]
    return "\n".join(lines)


_lock = threading.Lock()
_registered: list[_GlyphAddressedFont] = []


def _pdf_font() -> _GlyphAddressedFont:
    with _lock:
        if not _registered:
            font = _GlyphAddressedFont()
            pdfmetrics.registerFont(font)
            _registered.append(font)
        return _registered[0]


def register_mongolian_pdf_font() -> str:
    """Register the Mongolian font with reportlab (once) and return its reportlab name.

    For outputs that embed a subset of it by character (the OFD's hidden text layer).
    """
    return str(_pdf_font().fontName)


def mongolian_width(text: str, size: float) -> float:
    """Advance width in points of ``text`` shaped and set at ``size`` points."""
    return shape_mongolian(text).width(size)


def _actual_text(text: str) -> str:
    return "<FEFF" + text.encode("utf-16-be").hex().upper() + ">"


def draw_mongolian(
    canvas: Canvas,
    text_or_run: str | ShapedRun,
    *,
    x: float,
    y: float,
    size: float,
    align: str = "left",
) -> float:
    """Draw a Mongolian line with its baseline at ``y`` (PDF points, y up); returns its width.

    ``align`` places ``x`` at the left end, centre or right end of the line. The fill colour is
    the canvas's current one.

    Raises:
        ConfigurationError: the Mongolian font is not installed.
    """
    run = shape_mongolian(text_or_run) if isinstance(text_or_run, str) else text_or_run
    if not has_mongolian_font():  # shape_mongolian has raised already; kept for type narrowing
        return 0.0
    font = _pdf_font()
    width = run.width(size)
    left = x - (width / 2 if align == "center" else width if align == "right" else 0.0)
    canvas.addLiteral(f"/Span <</ActualText {_actual_text(run.text)}>> BDC")
    text = canvas.beginText()
    text.setFont(font.fontName, size)
    # Consecutive glyphs whose HarfBuzz advance equals the font's own advance and that carry no
    # offset go out as one string; any GPOS adjustment starts a new positioned chunk.
    scale = size / run.units_per_em
    pen_x = pen_y = 0.0
    chunk: list[str] = []
    chunk_origin: tuple[float, float] | None = None
    chunk_end = 0.0
    for glyph in run.glyphs:
        gx = left + (pen_x + glyph.x_offset) * scale
        gy = y + (pen_y + glyph.y_offset) * scale
        natural = font.face.charWidths[_GLYPH_BASE + glyph.glyph_id] * size / 1000
        if chunk_origin is None or abs(gx - chunk_end) > 1e-3 or abs(gy - chunk_origin[1]) > 1e-3:
            if chunk and chunk_origin is not None:
                text.setTextOrigin(*chunk_origin)
                text.textOut("".join(chunk))
            chunk, chunk_origin, chunk_end = [], (gx, gy), gx
        chunk.append(chr(_GLYPH_BASE + glyph.glyph_id))
        chunk_end += natural
        pen_x += glyph.x_advance
        pen_y += glyph.y_advance
    if chunk and chunk_origin is not None:
        text.setTextOrigin(*chunk_origin)
        text.textOut("".join(chunk))
    canvas.drawText(text)
    canvas.addLiteral("EMC")
    return width
