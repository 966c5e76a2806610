"""The rule for changes after a seal, object by object, on hand-made updates.

The attack suite (tests/services/test_verification_attacks.py) shows the rule catches the
published attacks; these cases pin the rule's corners: what is harmless, what is not, and that
the object graph (not the kind of object written) decides.
"""

from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from certsvc.crypto.keys import KeyAlgorithm
from certsvc.crypto.pdf_changes import ChangeKind, PdfChange
from certsvc.crypto.pdf_revisions import changes_after_revision
from tests.crypto.test_pdf_signing import _seal
from tests.pdf_attacks import MetaKeepingWriter

pytestmark = pytest.mark.db_independent


@pytest.fixture(scope="module")
def sealed() -> bytes:
    return _seal(KeyAlgorithm.ECDSA_P256)


def _changes(pdf: bytes, signed_revision: int = 1) -> tuple[PdfChange, ...]:
    return changes_after_revision(PdfFileReader(io.BytesIO(pdf), strict=False), signed_revision)


def _write(writer: MetaKeepingWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _name(value: str) -> generic.NameObject:
    return generic.NameObject(value)


def _timestamp_field(writer: MetaKeepingWriter, rect: tuple[float, float, float, float]) -> generic.IndirectObject:
    value = writer.add_object(
        generic.DictionaryObject(
            {
                _name("/Type"): _name("/DocTimeStamp"),
                _name("/SubFilter"): _name("/ETSI.RFC3161"),
                _name("/Contents"): generic.ByteStringObject(b"\x00" * 16),
            }
        )
    )
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    appearance = writer.add_object(
        generic.StreamObject(
            {_name("/BBox"): generic.ArrayObject([generic.NumberObject(0)] * 2 + [generic.NumberObject(200)] * 2)},
            stream_data=b"1 1 1 rg 0 0 200 200 re f",
        )
    )
    field = writer.add_object(
        generic.DictionaryObject(
            {
                _name("/FT"): _name("/Sig"),
                _name("/T"): generic.TextStringObject("TS1"),
                _name("/V"): value,
                _name("/Type"): _name("/Annot"),
                _name("/Subtype"): _name("/Widget"),
                _name("/Rect"): generic.ArrayObject([generic.FloatObject(v) for v in rect]),
                _name("/P"): page_ref,
                _name("/AP"): generic.DictionaryObject({_name("/N"): appearance}),
            }
        )
    )
    page = page_ref.get_object()
    page["/Annots"].append(field)
    writer.update_container(page["/Annots"])
    writer.mark_update(page_ref)
    form = writer.root["/AcroForm"]
    form["/Fields"].append(field)
    writer.update_container(form["/Fields"])
    return field


def test_nothing_after_the_seal(sealed: bytes) -> None:
    assert _changes(sealed) == ()


def test_an_invisible_document_time_stamp_field_is_harmless(sealed: bytes) -> None:
    writer = MetaKeepingWriter(io.BytesIO(sealed))
    _timestamp_field(writer, (0, 0, 0, 0))
    assert _changes(_write(writer)) == ()


def test_a_visible_document_time_stamp_widget_is_a_change(sealed: bytes) -> None:
    """A time-stamp field whose widget paints over the page is not LTV data."""
    writer = MetaKeepingWriter(io.BytesIO(sealed))
    field = _timestamp_field(writer, (50, 50, 250, 250))
    changes = _changes(_write(writer))
    kinds = {(c.kind, c.object_ref) for c in changes}
    assert (ChangeKind.FIELD, f"{field.reference.idnum} 0") in kinds
    assert any(c.kind is ChangeKind.APPEARANCE and c.page == 1 for c in changes)
    assert any(c.kind is ChangeKind.PAGE and c.keys == ("/Annots",) for c in changes)


def test_a_dss_is_harmless_but_not_a_page_object_smuggled_into_it(sealed: bytes) -> None:
    writer = MetaKeepingWriter(io.BytesIO(sealed))
    cert = writer.add_object(generic.StreamObject(stream_data=b"0\x82..."))
    writer.root[_name("/DSS")] = writer.add_object(
        generic.DictionaryObject({_name("/Certs"): generic.ArrayObject([cert])})
    )
    writer.update_root()
    with_dss = _write(writer)
    assert _changes(with_dss) == ()

    # The same DSS also naming the page's content stream, which the update rewrites.
    writer = MetaKeepingWriter(io.BytesIO(with_dss))
    page = writer.root["/Pages"]["/Kids"][0]
    content = page.raw_get("/Contents")
    writer.root["/DSS"]["/Certs"].append(content)
    writer.update_container(writer.root["/DSS"])
    ref = content.reference
    writer.objects[(ref.generation, ref.idnum)] = generic.StreamObject(stream_data=b"0 0 0 rg 0 0 600 800 re f")
    (change,) = _changes(_write(writer))
    assert (change.kind, change.page, change.object_ref, change.action) == (ChangeKind.PAGE_CONTENT, 1, f"{ref.idnum} 0", "changed")


def test_an_object_outside_the_document_is_a_change(sealed: bytes) -> None:
    writer = MetaKeepingWriter(io.BytesIO(sealed))
    orphan = writer.add_object(generic.StreamObject(stream_data=b"BT (2099-12-31) Tj ET"))
    (change,) = _changes(_write(writer))
    assert (change.kind, change.object_ref, change.action) == (ChangeKind.UNREFERENCED, f"{orphan.reference.idnum} 0", "added")
    assert change.describe_en() == f"object that is not part of the document added (object {orphan.reference.idnum} 0, revision 3)"
    assert change.describe_zh() == f"新增不属于文档的对象（对象 {orphan.reference.idnum} 0，第 3 次修订）"


def test_an_extensions_entry_alone_is_harmless_but_another_catalogue_key_is_not(sealed: bytes) -> None:
    writer = MetaKeepingWriter(io.BytesIO(sealed))
    writer.root[_name("/Extensions")] = generic.DictionaryObject(
        {_name("/ESIC"): generic.DictionaryObject({_name("/BaseVersion"): _name("/1.7"), _name("/ExtensionLevel"): generic.NumberObject(1)})}
    )
    writer.update_root()
    assert _changes(_write(writer)) == ()
    writer = MetaKeepingWriter(io.BytesIO(sealed))
    writer.root[_name("/OpenAction")] = generic.ArrayObject([writer.root["/Pages"]["/Kids"].raw_get(0), _name("/Fit")])
    writer.update_root()
    (change,) = _changes(_write(writer))
    assert (change.kind, change.keys) == (ChangeKind.CATALOG, ("/OpenAction",))


def test_more_revisions_than_validation_data_needs_are_not_walked(sealed: bytes) -> None:
    pdf = sealed
    for _ in range(34):  # each an empty update: harmless one by one, but not LTV data by count
        writer = MetaKeepingWriter(io.BytesIO(pdf))
        writer.update_root()
        pdf = _write(writer)
    changes = _changes(pdf)
    assert [(c.kind, c.revision, c.keys) for c in changes] == [(ChangeKind.STRUCTURE, 34, ("/Prev",))]
