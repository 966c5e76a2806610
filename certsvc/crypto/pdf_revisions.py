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

from typing import Any

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from certsvc.crypto.pdf_changes import ChangeKind, PdfChange
from certsvc.crypto.pdf_revision_objects import (
    Ref,
    RevisionView,
    differing_keys,
    raw_items,
    ref_name,
    ref_of,
    same_as_written,
)

__all__ = ["changes_after_revision"]

# Revisions after a seal that are analysed; LTV data needs a handful (ETSI EN 319 142-1 §5.5).
_MAX_LATER_REVISIONS = 32
# PDF annotation flags (ISO 32000-2 §12.5.3): Hidden and NoView both keep a widget off the page.
_HIDDEN_FLAGS = 2 | 32
_CATALOG_LTV_KEYS = frozenset({"/DSS", "/AcroForm", "/Extensions"})
_ACROFORM_LTV_KEYS = frozenset({"/Fields", "/SigFlags"})
# Back-pointers: following them would wander from an annotation to every page.
_SKIP_KEYS = frozenset({"/Parent", "/P"})

_ANNOTATION_SUBTYPES = frozenset(
    {
        "/Text", "/Link", "/FreeText", "/Line", "/Square", "/Circle", "/Polygon", "/PolyLine", "/Highlight",
        "/Underline", "/Squiggly", "/StrikeOut", "/Caret", "/Stamp", "/Ink", "/Popup", "/FileAttachment",
        "/Sound", "/Movie", "/Screen", "/PrinterMark", "/TrapNet", "/Watermark", "/3D", "/Redact", "/RichMedia",
    }
)  # fmt: skip


class _Analysis:
    def __init__(self, reader: PdfFileReader, revision: int) -> None:
        self.reader = reader
        self.revision = revision
        self.old = RevisionView(reader, revision - 1)
        self.new = RevisionView(reader, revision)
        self.reached: dict[
            Ref, tuple[int | None, str | None]
        ] = {}  # ref -> (page, key it was reached by)
        self.ltv: set[Ref] = set()
        self.doc_timestamp_fields: set[Ref] = set()
        self.pages: dict[Ref, int] = {}
        self.changes: list[PdfChange] = []

    # -- document time-stamps ----------------------------------------------------------------
    def is_document_timestamp(self, ref: Ref | None) -> bool:
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
            x1, y1, x2, y2 = (float(self.new.value(v)) for _, v in raw_items(rect))
        except (TypeError, ValueError):
            return False
        return x1 == x2 or y1 == y2

    # -- walking -------------------------------------------------------------------------------
    def page_list(self, root: Any) -> list[Ref]:
        pages: list[Ref] = []
        seen: set[Ref] = set()
        stack: list[Any] = (
            [root.raw_get("/Pages")]
            if isinstance(root, generic.DictionaryObject) and "/Pages" in root
            else []
        )
        while stack:
            item = stack.pop()
            ref = ref_of(item)
            if ref is None or ref in seen or len(seen) > 100_000:
                continue
            seen.add(ref)
            node = self.new.get(ref)
            if not isinstance(node, generic.DictionaryObject):
                continue
            if "/Kids" in node:
                self.reached.setdefault(ref, (None, "/Pages"))
                kids = self.new.value(node.raw_get("/Kids"))
                stack.extend(reversed([v for _, v in raw_items(kids)]))
            else:
                pages.append(ref)
        return pages

    def walk(
        self, start: Any, *, page: int | None, key: str | None, skip: frozenset[str] = frozenset()
    ) -> None:
        stack: list[tuple[Any, str | None, bool]] = [(start, key, True)]
        while stack:
            item, via, top = stack.pop()
            ref = ref_of(item)
            if ref is not None:
                if ref in self.reached:
                    continue
                self.reached[ref] = (page, via)
                obj = self.new.get(ref)
            else:
                obj = item
            for child_key, child in raw_items(obj):
                if child_key in _SKIP_KEYS or (top and child_key in skip):
                    continue
                if (
                    via in ("/Annots", "/Fields")
                    and child_key is None
                    and self.is_document_timestamp(ref_of(child))
                ):
                    self.doc_timestamp_fields.add(ref_of(child))  # type: ignore[arg-type]
                    continue
                stack.append((child, child_key if child_key is not None else via, False))

    def walk_ltv(self, start: Any) -> None:
        stack = [start]
        while stack:
            item = stack.pop()
            ref = ref_of(item)
            if ref is not None:
                if ref in self.ltv:
                    continue
                self.ltv.add(ref)
                item = self.new.get(ref)
            stack.extend(child for key, child in raw_items(item) if key not in _SKIP_KEYS)

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
                    self._kind(ref, self.old.get(ref)),
                    self.revision,
                    ref_name(ref),
                    None,
                    "deleted",
                )
            )
        written = {
            (r.idnum, r.generation) for r in xrefs.explicit_refs_in_revision(self.revision)
        } - containers
        for ref in sorted(written):
            self._judge(ref, root_ref=root_ref, info_ref=info_ref)
        return self.changes

    def _is_new(self, ref: Ref) -> bool:
        try:
            return bool(
                self.reader.xrefs.get_introducing_revision(generic.Reference(ref[0], ref[1]))
                == self.revision
            )
        except KeyError:
            return True

    def _judge(self, ref: Ref, *, root_ref: Ref | None, info_ref: Ref | None) -> None:
        action = "added" if self._is_new(ref) else "changed"
        new_obj, old_obj = self.new.get(ref), (None if action == "added" else self.old.get(ref))
        if ref in self.reached:
            page, via = self.reached[ref]
            keys = self._non_ltv_difference(ref, old_obj, new_obj, root_ref=root_ref)
            if keys is None:
                return
            kind = self._kind(ref, new_obj, via=via)
            self.changes.append(
                PdfChange(kind, self.revision, ref_name(ref), page, action, tuple(sorted(keys)))
            )
        elif ref in self.ltv:
            return
        elif ref == info_ref:
            self.changes.append(
                PdfChange(ChangeKind.INFO, self.revision, ref_name(ref), None, action)
            )
        else:
            self.changes.append(
                PdfChange(
                    ChangeKind.UNREFERENCED,
                    self.revision,
                    ref_name(ref),
                    self._page_of(new_obj),
                    action,
                )
            )

    def _non_ltv_difference(
        self, ref: Ref, old: Any, new: Any, *, root_ref: Ref | None
    ) -> set[str] | None:
        """The keys that differ beyond the LTV part, or None when the difference is only LTV data.

        Only the catalogue, the AcroForm, pages and their /Annots or /Fields arrays may differ,
        and only by /DSS, /Extensions, /SigFlags and appended document time-stamp fields.
        """
        if old is None:
            return set()
        if ref == root_ref:
            keys = differing_keys(old, new) - _CATALOG_LTV_KEYS
            if "/AcroForm" in differing_keys(old, new) and not self._acroform_ok(old, new):
                keys.add("/AcroForm")
            return keys or None
        if self._is_acroform(ref, root_ref):
            return (
                None
                if self._acroform_dict_ok(old, new)
                else differing_keys(old, new) or {"/Fields"}
            )
        if ref in self.pages:
            keys = differing_keys(old, new)
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

    def _is_acroform(self, ref: Ref, root_ref: Ref | None) -> bool:
        root = self.new.get(root_ref) if root_ref is not None else None
        return (
            isinstance(root, generic.DictionaryObject)
            and "/AcroForm" in root
            and ref_of(root.raw_get("/AcroForm")) == ref
        )

    def _acroform_ok(self, old_root: Any, new_root: Any) -> bool:
        old_raw = old_root.raw_get("/AcroForm") if "/AcroForm" in old_root else None
        new_raw = new_root.raw_get("/AcroForm") if "/AcroForm" in new_root else None
        if new_raw is None:
            return False
        if (
            old_raw is not None
            and ref_of(old_raw) is not None
            and ref_of(old_raw) == ref_of(new_raw)
        ):
            return True  # the same object: judged on its own if this revision wrote it
        old_form = self.old.value(old_raw) if old_raw is not None else generic.DictionaryObject()
        return self._acroform_dict_ok(old_form, self.new.value(new_raw))

    def _acroform_dict_ok(self, old: Any, new: Any) -> bool:
        if differing_keys(old, new) - _ACROFORM_LTV_KEYS:
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
        old_items = [v for _, v in raw_items(old)] if isinstance(old, generic.ArrayObject) else []
        if not isinstance(new, generic.ArrayObject) or len(new) < len(old_items):
            return False
        new_items = [new.raw_get(i) for i in range(len(new))]
        if not all(same_as_written(a, b) for a, b in zip(old_items, new_items, strict=False)):
            return False
        return all(ref_of(v) in self.doc_timestamp_fields for v in new_items[len(old_items) :])

    def _page_of(self, obj: Any) -> int | None:
        if isinstance(obj, generic.DictionaryObject) and "/P" in obj:
            return self.pages.get(ref_of(obj.raw_get("/P")) or (-1, -1))
        return None

    def _kind(self, ref: Ref, obj: Any, *, via: str | None = None) -> ChangeKind:
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
