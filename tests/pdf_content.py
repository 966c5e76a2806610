"""Every content stream of a PDF, and a strict check of the numbers in it (ISO 32000-1 §7.3.3).

Written independently of ``certsvc.domain.pdf_numbers`` so that the check does not share a bug
with the code it checks.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

__all__ = ["content_streams", "syntax_problems"]

_NUMBER = re.compile(rb"[+-]?(\d+(\.\d*)?|\.\d+)")
_OPERATOR = re.compile(rb"[A-Za-z'\"][A-Za-z0-9*'\"]*")
_WHITESPACE = b"\x00\t\n\x0c\r "
_DELIMITERS = b"()<>[]{}/%"


def content_streams(pdf: bytes) -> Iterator[tuple[str, bytes]]:
    """(label, decoded bytes) of each page's content and every form XObject reachable from a
    page: its resources and its annotations' appearances (the seal is one of those)."""
    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    seen: set[tuple[int, int]] = set()

    def forms(resources: Any, where: str) -> Iterator[tuple[str, bytes]]:
        xobjects = resources.get("/XObject") if isinstance(resources, generic.DictionaryObject) else None
        if not isinstance(xobjects, generic.DictionaryObject):
            return
        for name in list(xobjects.keys()):
            yield from form(xobjects.raw_get(name), f"{where} {name}")

    def form(ref: Any, where: str) -> Iterator[tuple[str, bytes]]:
        if isinstance(ref, generic.IndirectObject):
            key = (ref.idnum, ref.generation)
            if key in seen:
                return
            seen.add(key)
        obj = ref.get_object()
        if isinstance(obj, generic.StreamObject) and obj.get("/Subtype") == "/Form":
            yield where, obj.data
            yield from forms(obj.get("/Resources"), where)

    for i in range(int(reader.root["/Pages"]["/Count"])):
        page = reader.find_page_for_modification(i)[0].get_object()
        contents = page.get("/Contents")
        streams = contents if isinstance(contents, generic.ArrayObject) else [contents]
        yield f"page {i}", b"\n".join(s.get_object().data for s in streams if s is not None)
        yield from forms(page.get("/Resources"), f"page {i}")
        for annot in page.get("/Annots", []) or []:
            appearance = annot.get_object().get("/AP")
            if isinstance(appearance, generic.DictionaryObject) and "/N" in appearance:
                yield from form(appearance.raw_get("/N"), f"page {i} annotation")


def syntax_problems(content: bytes) -> list[bytes]:
    """Tokens of ``content`` that are neither a strict PDF number nor another content token."""
    problems: list[bytes] = []
    pos, end = 0, len(content)
    while pos < end:
        c = content[pos : pos + 1]
        if c in (b"\x00", b"\t", b"\n", b"\x0c", b"\r", b" "):
            pos += 1
        elif c == b"%":
            while pos < end and content[pos : pos + 1] not in (b"\r", b"\n"):
                pos += 1
        elif c == b"(":
            depth, pos = 1, pos + 1
            while pos < end and depth:
                ch = content[pos : pos + 1]
                if ch == b"\\":
                    pos += 2  # an escaped character never opens or closes
                    continue
                depth += {b"(": 1, b")": -1}.get(ch, 0)
                pos += 1
        elif content.startswith((b"<<", b">>"), pos):
            pos += 2
        elif c == b"<":
            close = content.index(b">", pos)
            if not re.fullmatch(rb"[0-9A-Fa-f\s]*", content[pos + 1 : close]):
                problems.append(content[pos : close + 1])
            pos = close + 1
        elif c in b"[]{}":
            pos += 1
        else:
            start = pos + (1 if c == b"/" else 0)
            pos = start
            while pos < end and content[pos] not in _WHITESPACE and content[pos] not in _DELIMITERS:
                pos += 1
            token = content[start:pos]
            if c == b"/":
                continue
            if token[:1] in b"+-.0123456789":
                if not _NUMBER.fullmatch(token):
                    problems.append(token)
            elif not _OPERATOR.fullmatch(token):
                problems.append(token)
            elif token == b"ID":  # inline image data runs up to "EI" after whitespace
                stop = content.find(b"EI", pos + 1)
                while stop != -1 and content[stop - 1] not in _WHITESPACE:
                    stop = content.find(b"EI", stop + 2)
                pos = end if stop == -1 else stop + 2
    return problems
