"""The one way certsvc writes a number into PDF content.

ISO 32000-1 §7.3.3: a real number is an optional sign, digits and at most one period; there is
no exponent form. ``%g`` writes ``7.10543e-15`` for the rounding residue of ``(w - w) / 2``, and
poppler and MuPDF then drop the whole content stream (a seal that does not show). Every number
certsvc writes into a content stream goes through :func:`pdf_number`; content made by a library
that formats with ``%g`` is passed through :func:`normalize_content_numbers`.
"""

from __future__ import annotations

import math
import re

__all__ = ["PDF_NUMBER", "normalize_content_numbers", "pdf_number", "pdf_numbers"]

# The strict grammar of a PDF number (§7.3.3), for callers and tests that check content.
PDF_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)")
_DEFAULT_PLACES = 4  # 1/10000 pt: far below any device resolution


def pdf_number(value: float, places: int = _DEFAULT_PLACES) -> str:
    """``value`` in PDF real syntax: fixed point, at most ``places`` decimals, no exponent.

    Raises:
        ValueError: ``value`` is not finite (PDF has no NaN or infinity).
    """
    if not math.isfinite(value):
        raise ValueError(f"not a writable PDF number: {value!r}")
    text = f"{value:.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def pdf_numbers(*values: float, places: int = _DEFAULT_PLACES) -> bytes:
    """Several numbers, space-separated, as content-stream bytes."""
    return " ".join(pdf_number(v, places) for v in values).encode("ascii")


# A content stream token that may hold a number: anything between delimiters, outside strings.
_EXPONENT_NUMBER = re.compile(rb"[+-]?(?:\d+\.?\d*|\.\d+)[eE][+-]?\d+")
_STRING_OR_TOKEN = re.compile(
    rb"\((?:\\.|[^\\)])*\)|<[0-9A-Fa-f\s]*>|[^\s()<>\[\]{}/%]+|.", re.DOTALL
)


def normalize_content_numbers(content: bytes) -> bytes:
    """``content`` with every exponent-form number rewritten by :func:`pdf_number`.

    Strings (literal and hex) are left untouched; only whole tokens are rewritten. Literal
    strings with nested parentheses do not occur in the operators this is used for (glyph
    positioning from a shaping engine), whose strings are hex.
    """
    out: list[bytes] = []
    for match in _STRING_OR_TOKEN.finditer(content):
        token = match.group()
        if _EXPONENT_NUMBER.fullmatch(token):
            token = pdf_number(float(token)).encode("ascii")
        out.append(token)
    return b"".join(out)
