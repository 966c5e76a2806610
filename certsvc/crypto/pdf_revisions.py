"""What the revisions after a signed one changed, judged by one rule.

The rule: after a seal, the only harmless incremental updates are PAdES long-term-validation
data (ETSI EN 319 142-1 §5.4 and §5.5): a ``/DSS`` dictionary with its ``/VRI`` entries, and
document time-stamps, i.e. signature fields whose value has ``/Type /DocTimeStamp`` and
``/SubFilter /ETSI.RFC3161``, with an invisible widget (zero-area ``/Rect``, or hidden). Nothing
else may be written after a seal: new fields (signed or not) and widgets, annotations, Info or
XMP rewrites, page, content or resource changes, AcroForm changes, objects outside the document.

Not a list of known attacks: every object each later revision writes or frees is classified.
The revision's document graph is walked from its catalogue (pages first, so that each object
gets the page it belongs to), with the LTV parts set aside; a written object that the document
reaches is a change unless it is the catalogue, the AcroForm, a page or an ``/Annots`` or
``/Fields`` array whose only difference is the LTV part itself (``/DSS``, appended document
time-stamp fields). A written object only the LTV parts reach is harmless; any other written
object (the Info dictionary, orphans) is a change too. The graph walk is what catches a shadow
that an old object points to: a reference that the signed revision left dangling (or pointed
elsewhere) now resolving to a written object is reached through the unchanged page.

pyHanko's cross-reference bookkeeping (``reader.xrefs``) is documented as internal; the
adversarial tests in ``tests/crypto/test_pdf_attacks.py`` fail if it changes shape.
"""

# pyHanko's generic PDF object constructors and xref bookkeeping are untyped.
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

__all__ = [
    "ChangeKind",
    "PdfChange",
    "changes_after_revision",
    "eof_candidates",
    "has_trailing_data",
]

_Ref = tuple[int, int]
# ISO 32000-2 §7.2.3: white-space characters. Trailing white space after %%EOF is not data.
_WHITESPACE = b"\x00\t\n\x0c\r "
# How many earlier %%EOF markers to try when the bytes after the last one do not parse.
_MAX_EOF_CANDIDATES = 16
# Revisions after a seal that are analysed; LTV data needs a handful (ETSI EN 319 142-1 §5.5).
_MAX_LATER_REVISIONS = 32
# PDF annotation flags (ISO 32000-2 §12.5.3): Hidden and NoView both keep a widget off the page.
_HIDDEN_FLAGS = 2 | 32
_CATALOG_LTV_KEYS = frozenset({"/DSS", "/AcroForm", "/Extensions"})
_ACROFORM_LTV_KEYS = frozenset({"/Fields", "/SigFlags"})
# Back-pointers: following them would wander from an annotation to every page.
_SKIP_KEYS = frozenset({"/Parent", "/P"})


class ChangeKind(StrEnum):
    CATALOG = "catalog"
    ACROFORM = "acroform"
    PAGE = "page"
    PAGE_CONTENT = "page_content"
    RESOURCE = "resource"
    ANNOTATION = "annotation"
    APPEARANCE = "appearance"
    FIELD = "field"
    METADATA = "metadata"
    INFO = "info"
    OBJECT = "object"
    UNREFERENCED = "unreferenced"
    STRUCTURE = "structure"


_KIND_TEXT: dict[ChangeKind, tuple[str, str]] = {
    ChangeKind.CATALOG: ("document catalogue", "文档目录"),
    ChangeKind.ACROFORM: ("interactive form (AcroForm)", "交互式表单（AcroForm）"),
    ChangeKind.PAGE: ("page object", "页面对象"),
    ChangeKind.PAGE_CONTENT: ("page content stream", "页面内容流"),
    ChangeKind.RESOURCE: (
        "page resource (font, image or form XObject)",
        "页面资源（字体、图像或表单对象）",
    ),
    ChangeKind.ANNOTATION: ("annotation", "注释"),
    ChangeKind.APPEARANCE: ("appearance stream", "外观流"),
    ChangeKind.FIELD: ("form field or widget (signed or not)", "表单域或控件（含签名域）"),
    ChangeKind.METADATA: ("XMP metadata", "XMP 元数据"),
    ChangeKind.INFO: ("document information dictionary (Info)", "文档信息字典（Info）"),
    ChangeKind.OBJECT: ("object", "对象"),
    ChangeKind.UNREFERENCED: ("object that is not part of the document", "不属于文档的对象"),
    ChangeKind.STRUCTURE: ("document structure (trailer)", "文档结构（尾部字典）"),
}
_ANNOTATION_SUBTYPES = frozenset(
    {
        "/Text", "/Link", "/FreeText", "/Line", "/Square", "/Circle", "/Polygon", "/PolyLine", "/Highlight",
        "/Underline", "/Squiggly", "/StrikeOut", "/Caret", "/Stamp", "/Ink", "/Popup", "/FileAttachment",
        "/Sound", "/Movie", "/Screen", "/PrinterMark", "/TrapNet", "/Watermark", "/3D", "/Redact", "/RichMedia",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class PdfChange:
    """One object a revision after the signed one wrote, freed or re-pointed, that is not LTV data."""

    kind: ChangeKind
    revision: int  # 0-based index of the revision that made the change
    object_ref: str | None  # "12 0"; None for a trailer change
    page: int | None  # 1-based page the object belongs to, when it belongs to one
    action: str  # added | changed | deleted
    keys: tuple[str, ...] = ()  # for dictionaries compared key by key: the keys that differ

    def describe_en(self) -> str:
        what = _KIND_TEXT[self.kind][0]
        where = [f"object {self.object_ref}"] if self.object_ref else []
        if self.keys:
            where.append("keys " + " ".join(self.keys))
        where.append(f"revision {self.revision + 1}")
        page = f"page {self.page}: " if self.page else ""
        return f"{page}{what} {self.action} ({', '.join(where)})"

    def describe_zh(self) -> str:
        what = _KIND_TEXT[self.kind][1]
        verb = {"added": "新增", "changed": "修改", "deleted": "删除"}[self.action]
        where = [f"对象 {self.object_ref}"] if self.object_ref else []
        if self.keys:
            where.append("键 " + " ".join(self.keys))
        where.append(f"第 {self.revision + 1} 次修订")
        page = f"第 {self.page} 页：" if self.page else ""
        return f"{page}{verb}{what}（{'，'.join(where)}）"


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


def _ref(obj: Any) -> _Ref | None:
    if isinstance(obj, generic.IndirectObject):
        return (obj.reference.idnum, obj.reference.generation)
    return None


def _name(ref: _Ref) -> str:
    return f"{ref[0]} {ref[1]}"


class _Revision:
    """One revision's view: resolve references within it, never in a later one."""

    def __init__(self, reader: PdfFileReader, revision: int) -> None:
        self.resolver = reader.get_historical_resolver(revision)
        self.reader = reader
        self.revision = revision

    def get(self, ref: _Ref) -> Any:
        try:
            return self.resolver.get_object(generic.Reference(ref[0], ref[1], pdf=self.reader))
        except Exception:  # a reference that does not resolve in this revision is null
            return generic.NullObject()

    def value(self, obj: Any) -> Any:
        ref = _ref(obj)
        return self.get(ref) if ref is not None else obj

    def root_ref(self) -> _Ref | None:
        return (
            _ref(self.resolver.trailer_view.raw_get("/Root"))
            if "/Root" in self.resolver.trailer_view
            else None
        )

    def trailer_ref(self, key: str) -> _Ref | None:
        trailer = self.resolver.trailer_view
        return _ref(trailer.raw_get(key)) if key in trailer else None


def _raw_items(obj: Any) -> Iterator[tuple[str | None, Any]]:
    """The raw (unresolved) children of a dictionary, stream or array, with their keys."""
    if isinstance(obj, generic.DictionaryObject):  # streams are dictionaries too
        for key in list(obj.keys()):
            yield str(key), obj.raw_get(key)
    elif isinstance(obj, generic.ArrayObject):
        for index in range(len(obj)):
            yield None, obj.raw_get(index)


def _same(a: Any, b: Any, depth: int = 0) -> bool:
    """Equal as written: references by number, direct values by value (not following references)."""
    if depth > 32:
        return False
    ra, rb = _ref(a), _ref(b)
    if ra is not None or rb is not None:
        return ra == rb
    if isinstance(a, generic.StreamObject) or isinstance(b, generic.StreamObject):
        return False  # direct streams do not exist (ISO 32000-2 §7.3.8): never equal
    if isinstance(a, generic.DictionaryObject) and isinstance(b, generic.DictionaryObject):
        return set(a.keys()) == set(b.keys()) and all(
            _same(a.raw_get(k), b.raw_get(k), depth + 1) for k in a
        )
    if isinstance(a, generic.ArrayObject) and isinstance(b, generic.ArrayObject):
        return len(a) == len(b) and all(
            _same(a.raw_get(i), b.raw_get(i), depth + 1) for i in range(len(a))
        )
    if isinstance(a, (generic.ByteStringObject, generic.TextStringObject)) and isinstance(
        b, (generic.ByteStringObject, generic.TextStringObject)
    ):
        return bool(a.original_bytes == b.original_bytes)
    return type(a) is type(b) and bool(a == b)


def _differing_keys(old: Any, new: Any) -> set[str]:
    if not isinstance(old, generic.DictionaryObject) or not isinstance(
        new, generic.DictionaryObject
    ):
        return {"(type)"}
    return {
        str(k)
        for k in set(old.keys()) | set(new.keys())
        if k not in old or k not in new or not _same(old.raw_get(k), new.raw_get(k))
    }


class _Analysis:
    def __init__(self, reader: PdfFileReader, revision: int) -> None:
        self.reader = reader
        self.revision = revision
        self.old = _Revision(reader, revision - 1)
        self.new = _Revision(reader, revision)
        self.reached: dict[
            _Ref, tuple[int | None, str | None]
        ] = {}  # ref -> (page, key it was reached by)
        self.ltv: set[_Ref] = set()
        self.doc_timestamp_fields: set[_Ref] = set()
        self.pages: dict[_Ref, int] = {}
        self.changes: list[PdfChange] = []

    # -- document time-stamps ----------------------------------------------------------------
    def is_document_timestamp(self, ref: _Ref | None) -> bool:
        """A signature field holding a document time-stamp, with a widget that shows nothing."""
        if ref is None:
            return False
        field = self.new.get(ref)
        if (
            not isinstance(field, generic.DictionaryObject)
            or field.get("/FT") != "/Sig"
            or "/Kids" in field
        ):
            return False
        value = self.new.value(field.raw_get("/V")) if "/V" in field else None
        if not isinstance(value, generic.DictionaryObject):
            return False
        if value.get("/Type") != "/DocTimeStamp" or value.get("/SubFilter") != "/ETSI.RFC3161":
            return False
        if "/Subtype" not in field:
            return True  # a field without a widget shows nothing
        flags = self.new.value(field.raw_get("/F")) if "/F" in field else 0
        if isinstance(flags, int) and flags & _HIDDEN_FLAGS:
            return True
        rect = self.new.value(field.raw_get("/Rect")) if "/Rect" in field else None
        try:
            x1, y1, x2, y2 = (float(self.new.value(v)) for _, v in _raw_items(rect))
        except (TypeError, ValueError):
            return False
        return x1 == x2 or y1 == y2

    # -- walking -------------------------------------------------------------------------------
    def page_list(self, root: Any) -> list[_Ref]:
        pages: list[_Ref] = []
        seen: set[_Ref] = set()
        stack: list[Any] = (
            [root.raw_get("/Pages")]
            if isinstance(root, generic.DictionaryObject) and "/Pages" in root
            else []
        )
        while stack:
            item = stack.pop()
            ref = _ref(item)
            if ref is None or ref in seen or len(seen) > 100_000:
                continue
            seen.add(ref)
            node = self.new.get(ref)
            if not isinstance(node, generic.DictionaryObject):
                continue
            if "/Kids" in node:
                self.reached.setdefault(ref, (None, "/Pages"))
                kids = self.new.value(node.raw_get("/Kids"))
                stack.extend(reversed([v for _, v in _raw_items(kids)]))
            else:
                pages.append(ref)
        return pages

    def walk(
        self, start: Any, *, page: int | None, key: str | None, skip: frozenset[str] = frozenset()
    ) -> None:
        stack: list[tuple[Any, str | None, bool]] = [(start, key, True)]
        while stack:
            item, via, top = stack.pop()
            ref = _ref(item)
            if ref is not None:
                if ref in self.reached:
                    continue
                self.reached[ref] = (page, via)
                obj = self.new.get(ref)
            else:
                obj = item
            for child_key, child in _raw_items(obj):
                if child_key in _SKIP_KEYS or (top and child_key in skip):
                    continue
                if (
                    via in ("/Annots", "/Fields")
                    and child_key is None
                    and self.is_document_timestamp(_ref(child))
                ):
                    self.doc_timestamp_fields.add(_ref(child))  # type: ignore[arg-type]
                    continue
                stack.append((child, child_key if child_key is not None else via, False))

    def walk_ltv(self, start: Any) -> None:
        stack = [start]
        while stack:
            item = stack.pop()
            ref = _ref(item)
            if ref is not None:
                if ref in self.ltv:
                    continue
                self.ltv.add(ref)
                item = self.new.get(ref)
            stack.extend(child for key, child in _raw_items(item) if key not in _SKIP_KEYS)

    # -- judging -------------------------------------------------------------------------------
    def run(self) -> list[PdfChange]:
        xrefs = self.reader.xrefs
        root_ref = self.new.root_ref()
        if root_ref is None or root_ref != self.old.root_ref():
            self.changes.append(
                PdfChange(ChangeKind.STRUCTURE, self.revision, None, None, "changed", ("/Root",))
            )
        if self.new.trailer_ref("/Info") != self.old.trailer_ref("/Info"):
            self.changes.append(
                PdfChange(ChangeKind.INFO, self.revision, None, None, "changed", ("/Info",))
            )
        if "/Encrypt" in self.new.resolver.trailer_view:
            self.changes.append(
                PdfChange(ChangeKind.STRUCTURE, self.revision, None, None, "changed", ("/Encrypt",))
            )
        root = self.new.get(root_ref) if root_ref is not None else generic.NullObject()

        pages = self.page_list(root)
        self.pages = {ref: number for number, ref in enumerate(pages, start=1)}
        for number, ref in enumerate(pages, start=1):
            self.walk(generic.IndirectObject(ref[0], ref[1], self.reader), page=number, key="/Kids")
        if root_ref is not None:
            self.walk(
                generic.IndirectObject(root_ref[0], root_ref[1], self.reader),
                page=None,
                key=None,
                skip=frozenset({"/DSS", "/Pages"}),
            )
        if isinstance(root, generic.DictionaryObject) and "/DSS" in root:
            self.walk_ltv(root.raw_get("/DSS"))
        for field in self.doc_timestamp_fields:
            self.walk_ltv(generic.IndirectObject(field[0], field[1], self.reader))

        containers = {(r.idnum, r.generation) for r in xrefs.xref_stream_refs} | {
            (r.idnum, r.generation) for r in xrefs.object_streams_used_in(self.revision)
        }
        info_ref = self.new.trailer_ref("/Info")
        for reference in sorted(
            xrefs.refs_freed_in_revision(self.revision), key=lambda r: (r.idnum, r.generation)
        ):
            ref = (reference.idnum, reference.generation)
            self.changes.append(
                PdfChange(
                    self._kind(ref, self.old.get(ref)), self.revision, _name(ref), None, "deleted"
                )
            )
        written = {
            (r.idnum, r.generation) for r in xrefs.explicit_refs_in_revision(self.revision)
        } - containers
        for ref in sorted(written):
            self._judge(ref, root_ref=root_ref, info_ref=info_ref)
        return self.changes

    def _is_new(self, ref: _Ref) -> bool:
        try:
            return bool(
                self.reader.xrefs.get_introducing_revision(generic.Reference(ref[0], ref[1]))
                == self.revision
            )
        except KeyError:
            return True

    def _judge(self, ref: _Ref, *, root_ref: _Ref | None, info_ref: _Ref | None) -> None:
        action = "added" if self._is_new(ref) else "changed"
        new_obj, old_obj = self.new.get(ref), (None if action == "added" else self.old.get(ref))
        if ref in self.reached:
            page, via = self.reached[ref]
            keys = self._non_ltv_difference(ref, old_obj, new_obj, root_ref=root_ref)
            if keys is None:
                return
            kind = self._kind(ref, new_obj, via=via)
            self.changes.append(
                PdfChange(kind, self.revision, _name(ref), page, action, tuple(sorted(keys)))
            )
        elif ref in self.ltv:
            return
        elif ref == info_ref:
            self.changes.append(PdfChange(ChangeKind.INFO, self.revision, _name(ref), None, action))
        else:
            self.changes.append(
                PdfChange(
                    ChangeKind.UNREFERENCED,
                    self.revision,
                    _name(ref),
                    self._page_of(new_obj),
                    action,
                )
            )

    def _non_ltv_difference(
        self, ref: _Ref, old: Any, new: Any, *, root_ref: _Ref | None
    ) -> set[str] | None:
        """The keys that differ beyond the LTV part, or None when the difference is only LTV data.

        Only the catalogue, the AcroForm, pages and their /Annots or /Fields arrays may differ,
        and only by /DSS, /Extensions, /SigFlags and appended document time-stamp fields.
        """
        if old is None:
            return set()
        if ref == root_ref:
            keys = _differing_keys(old, new) - _CATALOG_LTV_KEYS
            if "/AcroForm" in _differing_keys(old, new) and not self._acroform_ok(old, new):
                keys.add("/AcroForm")
            return keys or None
        if self._is_acroform(ref, root_ref):
            return (
                None
                if self._acroform_dict_ok(old, new)
                else _differing_keys(old, new) or {"/Fields"}
            )
        if ref in self.pages:
            keys = _differing_keys(old, new)
            if keys == {"/Annots"} and self._appended_timestamps(
                old.get("/Annots") if "/Annots" in old else None, new.get("/Annots")
            ):
                return None
            return keys or None
        if (
            isinstance(old, generic.ArrayObject)
            and isinstance(new, generic.ArrayObject)
            and self._appended_timestamps(old, new)
        ):
            return None  # an indirect /Annots or /Fields array grown by document time-stamps only
        return set()

    def _is_acroform(self, ref: _Ref, root_ref: _Ref | None) -> bool:
        root = self.new.get(root_ref) if root_ref is not None else None
        return (
            isinstance(root, generic.DictionaryObject)
            and "/AcroForm" in root
            and _ref(root.raw_get("/AcroForm")) == ref
        )

    def _acroform_ok(self, old_root: Any, new_root: Any) -> bool:
        old_raw = old_root.raw_get("/AcroForm") if "/AcroForm" in old_root else None
        new_raw = new_root.raw_get("/AcroForm") if "/AcroForm" in new_root else None
        if new_raw is None:
            return False
        if old_raw is not None and _ref(old_raw) is not None and _ref(old_raw) == _ref(new_raw):
            return True  # the same object: judged on its own if this revision wrote it
        old_form = self.old.value(old_raw) if old_raw is not None else generic.DictionaryObject()
        return self._acroform_dict_ok(old_form, self.new.value(new_raw))

    def _acroform_dict_ok(self, old: Any, new: Any) -> bool:
        if _differing_keys(old, new) - _ACROFORM_LTV_KEYS:
            return False
        old_fields = (
            old.get("/Fields")
            if isinstance(old, generic.DictionaryObject) and "/Fields" in old
            else None
        )
        return self._appended_timestamps(
            old_fields, new.get("/Fields") if "/Fields" in new else None
        )

    def _appended_timestamps(self, old: Any, new: Any) -> bool:
        """``new`` is ``old`` followed by document time-stamp fields only."""
        old_items = [v for _, v in _raw_items(old)] if isinstance(old, generic.ArrayObject) else []
        if not isinstance(new, generic.ArrayObject) or len(new) < len(old_items):
            return False
        new_items = [new.raw_get(i) for i in range(len(new))]
        if not all(_same(a, b) for a, b in zip(old_items, new_items, strict=False)):
            return False
        return all(_ref(v) in self.doc_timestamp_fields for v in new_items[len(old_items) :])

    def _page_of(self, obj: Any) -> int | None:
        if isinstance(obj, generic.DictionaryObject) and "/P" in obj:
            return self.pages.get(_ref(obj.raw_get("/P")) or (-1, -1))
        return None

    def _kind(self, ref: _Ref, obj: Any, *, via: str | None = None) -> ChangeKind:
        if ref in self.pages:
            return ChangeKind.PAGE
        if not isinstance(obj, generic.DictionaryObject):
            return ChangeKind.PAGE_CONTENT if via == "/Contents" else ChangeKind.OBJECT
        kind_by_type = {
            "/Catalog": ChangeKind.CATALOG,
            "/Pages": ChangeKind.PAGE,
            "/Page": ChangeKind.PAGE,
            "/Metadata": ChangeKind.METADATA,
            "/XObject": ChangeKind.RESOURCE,
            "/Font": ChangeKind.RESOURCE,
            "/FontDescriptor": ChangeKind.RESOURCE,
            "/ExtGState": ChangeKind.RESOURCE,
            "/Sig": ChangeKind.FIELD,
            "/DocTimeStamp": ChangeKind.FIELD,
        }
        declared = obj.get("/Type")
        if declared in kind_by_type:
            return kind_by_type[declared]
        subtype = obj.get("/Subtype")
        if "/FT" in obj or subtype == "/Widget":
            return ChangeKind.FIELD
        if subtype in _ANNOTATION_SUBTYPES:
            return ChangeKind.ANNOTATION
        if "/Fields" in obj:
            return ChangeKind.ACROFORM
        if via == "/Contents" and isinstance(obj, generic.StreamObject):
            return ChangeKind.PAGE_CONTENT
        if via in ("/AP", "/N", "/D", "/R"):
            return ChangeKind.APPEARANCE
        if via in (
            "/Resources",
            "/Font",
            "/XObject",
            "/ExtGState",
            "/ColorSpace",
            "/Pattern",
            "/Shading",
        ):
            return ChangeKind.RESOURCE
        return ChangeKind.OBJECT


def changes_after_revision(reader: PdfFileReader, revision: int) -> tuple[PdfChange, ...]:
    """Every change after ``revision`` (0-based) that is not PAdES LTV data, in file order.

    Each later revision costs a walk of the document, so a file with more than
    ``_MAX_LATER_REVISIONS`` of them is not analysed further: that many updates after a seal
    are not a licence's validation data, and the count itself is reported as a change.
    """
    total = reader.xrefs.total_revisions
    changes: list[PdfChange] = []
    for later in range(revision + 1, min(total, revision + 1 + _MAX_LATER_REVISIONS)):
        changes.extend(_Analysis(reader, later).run())
    if total - revision - 1 > _MAX_LATER_REVISIONS:
        changes.append(
            PdfChange(
                ChangeKind.STRUCTURE,
                revision + 1 + _MAX_LATER_REVISIONS,
                None,
                None,
                "added",
                ("/Prev",),
            )
        )
    return tuple(changes)
