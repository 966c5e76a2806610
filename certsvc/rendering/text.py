"""Line breaking for Chinese text inside a fixed box.

Chinese breaks between any two characters, with the 禁则 (kinsoku) rules of GB/T 15834 and
common typesetting practice: closing punctuation never starts a line, opening punctuation never
ends one. Runs of Latin letters and digits (licence numbers, phone numbers, addresses with
house numbers) are kept together when they fit on a line, so ``JY13202140012345`` is not cut in
two. Nothing is ever allowed to overflow the box: a caller gets ``None`` back and refuses the
value instead.
"""

from __future__ import annotations

import re

from certsvc.rendering.fonts import string_width

__all__ = ["NO_LINE_END", "NO_LINE_START", "wrap_text"]

NO_LINE_START = frozenset("，。、；：？！）》」』〕】〉’”…—·,.;:?!)]}%％")
NO_LINE_END = frozenset("（《「『〔【〈‘“([{")
_RUN = re.compile(r"[A-Za-z0-9][A-Za-z0-9\-./@:_#]*")


def _tokens(paragraph: str) -> list[str]:
    """Split into unbreakable tokens: Latin/digit runs, single CJK characters, with kinsoku glue."""
    raw: list[str] = []
    pos = 0
    while pos < len(paragraph):
        match = _RUN.match(paragraph, pos)
        if match:
            raw.append(match.group())
            pos = match.end()
        else:
            raw.append(paragraph[pos])
            pos += 1
    glued: list[str] = []
    carry = ""
    for token in raw:
        token = carry + token
        carry = ""
        if token[-1] in NO_LINE_END:
            carry = token  # glue opening punctuation to what follows it
            continue
        if glued and token[0] in NO_LINE_START:
            glued[-1] += token  # glue closing punctuation to what precedes it
        else:
            glued.append(token)
    if carry:
        glued.append(carry)
    return glued


def _split_long(token: str, width: float, font: str, size: float) -> list[str]:
    """A token wider than the whole line is broken by characters (last resort)."""
    parts: list[str] = []
    current = ""
    for ch in token:
        if current and string_width(current + ch, font, size) > width:
            parts.append(current)
            current = ch
        else:
            current += ch
    if current:
        parts.append(current)
    return parts


def wrap_text(
    text: str,
    *,
    width: float,
    font: str,
    size: float,
    max_lines: int | None = None,
    first_indent: float = 0.0,
) -> list[str] | None:
    """Break ``text`` into lines no wider than ``width`` points.

    Explicit newlines start new paragraphs. ``first_indent`` (points) narrows the first line of
    each paragraph (the customary two-character indent of official documents). Returns ``None``
    when more than ``max_lines`` lines would be needed, or when a single character is wider
    than the line, so callers can refuse rather than overflow.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        limit = width - first_indent
        for token in _tokens(paragraph):
            candidate = line + token
            if string_width(candidate, font, size) <= limit:
                line = candidate
                continue
            if line:
                lines.append(line)
                limit = width
                line = ""
            if string_width(token, font, size) <= limit:
                line = token
                continue
            pieces = _split_long(token, limit, font, size)
            if any(string_width(p, font, size) > limit for p in pieces):
                return None
            lines.extend(pieces[:-1])
            limit = width
            line = pieces[-1]
        lines.append(line)
        if max_lines is not None and len(lines) > max_lines:
            return None
    if max_lines is not None and len(lines) > max_lines:
        return None
    return lines
