"""One revision of a PDF as it was written: where a revision ends, its objects resolved within
it (never in a later one), and objects compared as written (references by number)."""

# pyHanko's generic PDF object constructors and xref bookkeeping are untyped.
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

__all__ = [
    "Ref",
    "RevisionView",
    "differing_keys",
    "eof_candidates",
    "has_trailing_data",
    "raw_items",
    "ref_name",
    "ref_of",
    "same_as_written",
]

# An indirect reference: (object number, generation).
Ref = tuple[int, int]
# ISO 32000-2 §7.2.3: white-space characters. Trailing white space after %%EOF is not data.
_WHITESPACE = b"\x00\t\n\x0c\r "
# How many earlier %%EOF markers to try when the bytes after the last one do not parse.
_MAX_EOF_CANDIDATES = 16


def eof_candidates(pdf: bytes) -> Iterator[int]:
    """Candidate ends of the last complete revision, latest first: just past each ``%%EOF``.

    The caller opens ``pdf[:end]`` for each candidate until one parses; what follows that end
    (other than white space) was appended without being a valid incremental update.
    """
    end = len(pdf)
    for _ in range(_MAX_EOF_CANDIDATES):
        at = pdf.rfind(b"%%EOF", 0, end)
        if at < 0:
            return
        # The end-of-line marker after %%EOF belongs to the revision (signed byte ranges
        # include it): CR LF, LF or CR.
        eol = pdf[at + 5 : at + 7]
        yield at + 5 + (2 if eol == b"\r\n" else 1 if eol[:1] in (b"\n", b"\r") else 0)
        end = at


def has_trailing_data(pdf: bytes, end: int) -> bool:
    """Whether anything but white space follows ``end``."""
    return bool(pdf[end:].strip(_WHITESPACE))


def ref_of(obj: Any) -> Ref | None:
    if isinstance(obj, generic.IndirectObject):
        return (obj.reference.idnum, obj.reference.generation)
    return None


def ref_name(ref: Ref) -> str:
    """The reference as reports write it: "12 0"."""
    return f"{ref[0]} {ref[1]}"


class RevisionView:
    """One revision's view: resolve references within it, never in a later one."""

    def __init__(self, reader: PdfFileReader, revision: int) -> None:
        self.resolver = reader.get_historical_resolver(revision)
        self.reader = reader
        self.revision = revision

    def get(self, ref: Ref) -> Any:
        try:
            return self.resolver.get_object(generic.Reference(ref[0], ref[1], pdf=self.reader))
        except Exception:  # a reference that does not resolve in this revision is null
            return generic.NullObject()

    def value(self, obj: Any) -> Any:
        ref = ref_of(obj)
        return self.get(ref) if ref is not None else obj

    def root_ref(self) -> Ref | None:
        return (
            ref_of(self.resolver.trailer_view.raw_get("/Root"))
            if "/Root" in self.resolver.trailer_view
            else None
        )

    def trailer_ref(self, key: str) -> Ref | None:
        trailer = self.resolver.trailer_view
        return ref_of(trailer.raw_get(key)) if key in trailer else None


def raw_items(obj: Any) -> Iterator[tuple[str | None, Any]]:
    """The raw (unresolved) children of a dictionary, stream or array, with their keys."""
    if isinstance(obj, generic.DictionaryObject):  # streams are dictionaries too
        for key in list(obj.keys()):
            yield str(key), obj.raw_get(key)
    elif isinstance(obj, generic.ArrayObject):
        for index in range(len(obj)):
            yield None, obj.raw_get(index)


def same_as_written(a: Any, b: Any, depth: int = 0) -> bool:
    """Equal as written: references by number, direct values by value (not following references)."""
    if depth > 32:
        return False
    ra, rb = ref_of(a), ref_of(b)
    if ra is not None or rb is not None:
        return ra == rb
    if isinstance(a, generic.StreamObject) or isinstance(b, generic.StreamObject):
        return False  # direct streams do not exist (ISO 32000-2 §7.3.8): never equal
    if isinstance(a, generic.DictionaryObject) and isinstance(b, generic.DictionaryObject):
        return set(a.keys()) == set(b.keys()) and all(
            same_as_written(a.raw_get(k), b.raw_get(k), depth + 1) for k in a
        )
    if isinstance(a, generic.ArrayObject) and isinstance(b, generic.ArrayObject):
        return len(a) == len(b) and all(
            same_as_written(a.raw_get(i), b.raw_get(i), depth + 1) for i in range(len(a))
        )
    if isinstance(a, (generic.ByteStringObject, generic.TextStringObject)) and isinstance(
        b, (generic.ByteStringObject, generic.TextStringObject)
    ):
        return bool(a.original_bytes == b.original_bytes)
    return type(a) is type(b) and bool(a == b)


def differing_keys(old: Any, new: Any) -> set[str]:
    if not isinstance(old, generic.DictionaryObject) or not isinstance(
        new, generic.DictionaryObject
    ):
        return {"(type)"}
    return {
        str(k)
        for k in set(old.keys()) | set(new.keys())
        if k not in old or k not in new or not same_as_written(old.raw_get(k), new.raw_get(k))
    }
