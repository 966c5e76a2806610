"""GB/T 36903 licence metadata inside the PDF: an XMP packet and the document info dictionary.

GB/T 36903-2018 (电子证照 元数据规范) lists the metadata every electronic licence carries
(identifier, name, type code, number, holder and holder code with its type, issuer and issuer
code, issue date, validity, area). We write it twice:

* into the catalog's XMP ``/Metadata`` stream, in the ``dzzz`` namespace below — readers that
  understand XMP (archives, PDF/A tooling) find it there, and it is stored *uncompressed* so a
  byte search finds it without a PDF parser;
* into the document info dictionary as ``/DZZZ_<Key>`` entries — for tools that only show the
  info dictionary (``pdfinfo``).

Both live in the signed revision, so a later change is visible to signature validation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from reportlab.pdfbase.pdfdoc import PDFDictionary, PDFInfo, PDFName, PDFStream, PDFString
from reportlab.pdfgen.canvas import Canvas

__all__ = ["METADATA_KEYS", "XMP_NAMESPACE", "apply_metadata", "build_xmp", "read_licence_metadata"]

XMP_NAMESPACE = "https://certsvc.cn/ns/gbt36903/1.0/"
_PREFIX = "dzzz"  # 电子证照

# Our key → GB/T 36903-2018 element (Chinese name, for documentation and the info dictionary).
METADATA_KEYS: Mapping[str, str] = {
    "identifier": "证照标识",
    "licence_name": "证照名称",
    "type_code": "证照类型代码",
    "licence_number": "证照编号",
    "holder_name": "持证主体",
    "holder_code": "持证主体代码",
    "holder_code_type": "持证主体代码类型",
    "issuer_name": "证照颁发机构",
    "issuer_code": "证照颁发机构代码",
    "issued_on": "证照颁发日期",
    "valid_from": "证照有效期起始日期",
    "valid_until": "证照有效期截止日期",
    "area_code": "行政区划代码",
}
_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_MAX_PACKET = 256 * 1024  # refuse to parse absurd packets from untrusted files


def build_xmp(*, title: str, metadata: Mapping[str, str]) -> bytes:
    """The XMP packet (UTF-8) with dc:title and one ``dzzz:`` property per metadata key."""
    props = "".join(
        f"<{_PREFIX}:{key}>{escape(value)}</{_PREFIX}:{key}>"
        for key, value in metadata.items()
        if _KEY_RE.match(key)
    )
    # The xpacket header's id is the fixed value from the XMP specification (part 1, §7.3.2).
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        f'xmlns:{_PREFIX}="{XMP_NAMESPACE}">'
        f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt></dc:title>'
        f"{props}"
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="r"?>'
    )
    return packet.encode("utf-8")


class _LicenceInfo(PDFInfo):  # type: ignore[misc]  # reportlab is untyped
    """The info dictionary with the standard entries plus ``/DZZZ_<key>`` entries."""

    extras: Mapping[str, str] = {}

    def format(self, document: Any) -> bytes:
        base = PDFInfo.format(self, document)
        if not self.extras:
            return bytes(base)
        # Re-build rather than patch bytes: PDFInfo.format assembles a fresh PDFDictionary.
        from reportlab.pdfbase.pdfdoc import PDFDate

        entries: dict[str, Any] = {
            "Title": PDFString(self.title),
            "Author": PDFString(self.author),
            "Producer": PDFString(self.producer),
            "Creator": PDFString(self.creator),
            "Subject": PDFString(self.subject),
            "Keywords": PDFString(self.keywords),
            "Trapped": PDFName(self.trapped),
        }
        entries["ModDate"] = entries["CreationDate"] = PDFDate(
            ts=document._timeStamp, dateFormatter=self._dateFormatter
        )
        for key, value in self.extras.items():
            entries[f"DZZZ_{key}"] = PDFString(value)
        return bytes(PDFDictionary(entries).format(document))


def apply_metadata(
    canvas: Canvas, *, template_name: str, type_code: str, content_metadata: Mapping[str, str]
) -> None:
    """Attach XMP and info-dictionary metadata to a canvas (call after setTitle & co.)."""
    metadata = {k: str(v) for k, v in content_metadata.items() if _KEY_RE.match(k)}
    metadata.setdefault("licence_name", template_name)
    metadata.setdefault("type_code", type_code)
    doc = canvas._doc
    info = _LicenceInfo()
    info.__dict__.update(doc.info.__dict__)
    info.extras = dict(metadata)
    doc.info = info
    stream = PDFStream(
        dictionary=PDFDictionary({"Type": PDFName("Metadata"), "Subtype": PDFName("XML")}),
        content=build_xmp(title=doc.info.title, metadata=metadata),
        filters=[],  # uncompressed: XMP must be findable by byte scanning (XMP part 3 §1.1.4)
    )
    canvas.setCatalogEntry("Metadata", stream)


_OPEN, _CLOSE = b"<x:xmpmeta", b"</x:xmpmeta>"


def _packets(pdf: bytes) -> list[bytes]:
    """Every XMP packet of at most ``_MAX_PACKET`` bytes, found in linear time.

    Opening and closing tags are located once each and paired (the last opening tag before
    each closing tag). A lazy ``.*?`` regex would rescan to the end of the file for every
    unclosed opening tag — a quadratic blow-up on a hostile upload.
    """
    opens = [m.start() for m in re.finditer(re.escape(_OPEN), pdf)]
    closes = [m.end() for m in re.finditer(re.escape(_CLOSE), pdf)]
    found = []
    i = 0
    previous_end = 0
    for end in closes:
        start = -1
        while i < len(opens) and opens[i] < end:
            if opens[i] >= previous_end:
                start = opens[i]
            i += 1
        if start >= 0 and end - start <= _MAX_PACKET:
            found.append(pdf[start:end])
        previous_end = end
    return found


def read_licence_metadata(pdf: bytes) -> dict[str, str] | None:
    """The ``dzzz`` metadata of a licence PDF, or ``None`` when it has none.

    Scans for XMP packets (the last one wins: an incremental update appends a newer packet)
    and parses only ours. Never raises on a malformed file; a damaged packet counts as absent.
    """
    found: dict[str, str] | None = None
    for packet in _packets(pdf):
        if XMP_NAMESPACE.encode() not in packet:
            continue
        if b"<!DOCTYPE" in packet or b"<!ENTITY" in packet:
            continue  # entity tricks have no place in XMP; refuse rather than expand them
        try:
            root = ElementTree.fromstring(packet)
        except ElementTree.ParseError:
            continue
        values: dict[str, str] = {}
        prefix = "{" + XMP_NAMESPACE + "}"
        for element in root.iter():
            if isinstance(element.tag, str) and element.tag.startswith(prefix):
                values[element.tag[len(prefix) :]] = element.text or ""
        if values:
            found = values
    return found
