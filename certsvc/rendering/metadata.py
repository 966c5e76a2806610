"""GB/T 36903 licence metadata inside the PDF: an XMP packet and the document info dictionary.

The same place makes the file PDF/A-2b (ISO 19005-2) in what concerns metadata: the pdfaid
identification, the info entries mirrored in XMP, an extension schema for our namespace, a stable
document ID and the sRGB output intent. docs/templates.md lists every PDF/A clause we rely on
and the test that checks it.

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

import hashlib
import re
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from reportlab.pdfbase.pdfdoc import (
    PDFArray,
    PDFDictionary,
    PDFInfo,
    PDFName,
    PDFStream,
    PDFString,
)
from reportlab.pdfbase.pdfdoc import format as pdf_format
from reportlab.pdfgen.canvas import Canvas

from certsvc.errors import ConfigurationError

__all__ = [
    "METADATA_KEYS",
    "SRGB_PROFILE_PATH",
    "XMP_NAMESPACE",
    "DocumentDescription",
    "apply_metadata",
    "build_xmp",
    "document_id",
    "read_licence_metadata",
    "srgb_profile",
]

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


@dataclass(frozen=True, slots=True)
class DocumentDescription:
    """The document-level facts that PDF/A wants identical in the info dictionary and in XMP."""

    title: str
    author: str
    subject: str
    keywords: str
    creator_tool: str
    created: str  # ISO 8601 with offset; also the modification date (the licence never changes)
    document_id: str  # "uuid:…", the same 16 bytes as the trailer /ID


def _extension_schema(keys: list[str]) -> str:
    """The PDF/A extension schema that describes our ``dzzz`` properties.

    ISO 19005-2 §6.6.2.3.1: every XMP property outside the predefined schemas must be described
    by an extension schema embedded in the same packet, or the file is not PDF/A.
    """
    properties = "".join(
        '<rdf:li rdf:parseType="Resource">'
        f"<pdfaProperty:name>{key}</pdfaProperty:name>"
        "<pdfaProperty:valueType>Text</pdfaProperty:valueType>"
        "<pdfaProperty:category>external</pdfaProperty:category>"
        f"<pdfaProperty:description>{escape(METADATA_KEYS.get(key, key))}</pdfaProperty:description>"
        "</rdf:li>"
        for key in keys
    )
    return (
        '<rdf:Description rdf:about="" '
        'xmlns:pdfaExtension="http://www.aiim.org/pdfa/ns/extension/" '
        'xmlns:pdfaSchema="http://www.aiim.org/pdfa/ns/schema#" '
        'xmlns:pdfaProperty="http://www.aiim.org/pdfa/ns/property#">'
        '<pdfaExtension:schemas><rdf:Bag><rdf:li rdf:parseType="Resource">'
        "<pdfaSchema:schema>GB/T 36903-2018 电子证照元数据</pdfaSchema:schema>"
        f"<pdfaSchema:namespaceURI>{XMP_NAMESPACE}</pdfaSchema:namespaceURI>"
        f"<pdfaSchema:prefix>{_PREFIX}</pdfaSchema:prefix>"
        f"<pdfaSchema:property><rdf:Seq>{properties}</rdf:Seq></pdfaSchema:property>"
        "</rdf:li></rdf:Bag></pdfaExtension:schemas>"
        "</rdf:Description>"
    )


def build_xmp(
    *,
    title: str,
    metadata: Mapping[str, str],
    document: DocumentDescription | None = None,
) -> bytes:
    """The XMP packet (UTF-8): dc:title and one ``dzzz:`` property per metadata key.

    With ``document`` the packet also carries what PDF/A-2b requires (ISO 19005-2 §6.6): the
    pdfaid identification (part 2, conformance B), the standard properties mirroring the info
    dictionary, the document ID and the extension schema of the ``dzzz`` namespace.
    """
    keys = [key for key in metadata if _KEY_RE.match(key)]
    props = "".join(f"<{_PREFIX}:{key}>{escape(metadata[key])}</{_PREFIX}:{key}>" for key in keys)
    standard = ""
    pdfa = ""
    if document is not None:
        title = document.title
        standard = (
            f"<dc:creator><rdf:Seq><rdf:li>{escape(document.author)}</rdf:li></rdf:Seq></dc:creator>"
            f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(document.subject)}'
            "</rdf:li></rdf:Alt></dc:description>"
            "<dc:format>application/pdf</dc:format>"
            f"<pdf:Keywords>{escape(document.keywords)}</pdf:Keywords>"
            f"<xmp:CreatorTool>{escape(document.creator_tool)}</xmp:CreatorTool>"
            f"<xmp:CreateDate>{document.created}</xmp:CreateDate>"
            f"<xmp:ModifyDate>{document.created}</xmp:ModifyDate>"
            f"<xmp:MetadataDate>{document.created}</xmp:MetadataDate>"
            f"<xmpMM:DocumentID>{document.document_id}</xmpMM:DocumentID>"
            f"<xmpMM:InstanceID>{document.document_id}</xmpMM:InstanceID>"
        )
        pdfa = (
            '<rdf:Description rdf:about="" xmlns:pdfaid="http://www.aiim.org/pdfa/ns/id/">'
            "<pdfaid:part>2</pdfaid:part><pdfaid:conformance>B</pdfaid:conformance>"
            "</rdf:Description>" + _extension_schema(keys)
        )
    # The xpacket header's id is the fixed value from the XMP specification (part 1, §7.3.2);
    # PDF/A forbids its deprecated "bytes" and "encoding" attributes (ISO 19005-2 §6.6.2.1).
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:pdf="http://ns.adobe.com/pdf/1.3/" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
        f'xmlns:{_PREFIX}="{XMP_NAMESPACE}">'
        f'<dc:title><rdf:Alt><rdf:li xml:lang="x-default">{escape(title)}</rdf:li></rdf:Alt></dc:title>'
        f"{standard}{props}"
        f"</rdf:Description>{pdfa}</rdf:RDF></x:xmpmeta>"
        '<?xpacket end="r"?>'
    )
    return packet.encode("utf-8")


class _LicenceInfo(PDFInfo):  # type: ignore[misc]  # reportlab is untyped
    """The info dictionary with the standard entries plus ``/DZZZ_<key>`` entries."""

    extras: Mapping[str, str] = {}

    def format(self, document: Any) -> bytes:
        from reportlab.pdfbase.pdfdoc import PDFDate

        # Re-build rather than patch bytes: PDFInfo.format assembles a fresh PDFDictionary.
        # PDF/A tools want every standard info entry mirrored by an equal XMP property, also
        # after pyHanko's incremental update when the file is sealed. Hence no /Trapped (no
        # XMP equivalent in the PDF/A-2 predefined schemas) and no /Producer: pyHanko appends
        # itself to an existing info /Producer but writes only "pyHanko x.y" to pdf:Producer;
        # with none in the file it writes the same "pyHanko x.y" to both.
        entries: dict[str, Any] = {
            "Title": PDFString(self.title),
            "Author": PDFString(self.author),
            "Creator": PDFString(self.creator),
            "Subject": PDFString(self.subject),
            "Keywords": PDFString(self.keywords),
        }
        entries["ModDate"] = entries["CreationDate"] = PDFDate(
            ts=document._timeStamp, dateFormatter=self._dateFormatter
        )
        for key, value in self.extras.items():
            entries[f"DZZZ_{key}"] = PDFString(value)
        return bytes(PDFDictionary(entries).format(document))


def document_id(identifier: str, variant: str) -> bytes:
    """16 stable bytes naming one rendered file: the trailer /ID and xmpMM:DocumentID.

    Derived, not random, so that a re-render of the same licence reproduces the archived bytes;
    the variant keeps the electronic and the print file apart (ISO 32000-1 §14.4).
    """
    return hashlib.sha256(f"certsvc|{identifier}|{variant}".encode()).digest()[:16]


def apply_metadata(
    canvas: Canvas,
    *,
    template_name: str,
    type_code: str,
    content_metadata: Mapping[str, str],
    created: datetime | None = None,
    file_id: bytes | None = None,
) -> None:
    """Attach XMP and info-dictionary metadata to a canvas (call after setTitle & co.).

    With ``created`` and ``file_id`` the file is also made PDF/A-2b in its metadata: pdfaid,
    the info entries mirrored in XMP, a fixed trailer /ID and the sRGB output intent.

    Raises:
        ConfigurationError: PDF/A was asked for and the sRGB ICC profile is not installed.
    """
    metadata = {k: str(v) for k, v in content_metadata.items() if _KEY_RE.match(k)}
    metadata.setdefault("licence_name", template_name)
    metadata.setdefault("type_code", type_code)
    doc = canvas._doc
    info = _LicenceInfo()
    info.__dict__.update(doc.info.__dict__)
    info.extras = dict(metadata)
    doc.info = info
    description = None
    if created is not None and file_id is not None:
        description = DocumentDescription(
            title=info.title,
            author=info.author,
            subject=info.subject,
            keywords=info.keywords,
            creator_tool=info.creator,
            created=created.isoformat(),
            document_id=f"uuid:{uuid.UUID(bytes=file_id)}",
        )
        # reportlab writes doc._ID verbatim after "/ID" in the trailer; both halves are equal
        # for a file that was never modified (ISO 32000-1 §14.4).
        doc._ID = f"\n[<{file_id.hex()}><{file_id.hex()}>]\n".encode()
        _add_output_intent(canvas)
    _install_stream_eol()
    # Uncompressed: XMP must be findable by byte scanning (XMP part 3 §1.1.4), and PDF/A wants
    # no /Filter key at all on the metadata stream (ISO 19005-2 §6.6.2.1).
    stream = _PlainStream(
        dictionary=PDFDictionary({"Type": PDFName("Metadata"), "Subtype": PDFName("XML")}),
        content=build_xmp(title=doc.info.title, metadata=metadata, document=description),
    )
    canvas.setCatalogEntry("Metadata", stream)


class _PlainStream(PDFStream):  # type: ignore[misc]  # reportlab is untyped
    """A stream with no ``/Filter`` key (reportlab writes ``/Filter [ ]`` for "no filters")."""

    def format(self, document: Any) -> bytes:
        dictionary = PDFDictionary(self.dictionary.dict.copy())
        content = document.encrypt.encode(self.content)
        dictionary["Length"] = len(content)
        return bytes(pdf_format(dictionary, document) + b"\nstream\n" + content + b"\nendstream\n")


_stream_lock = threading.Lock()
_stream_patched: list[bool] = []


def _install_stream_eol() -> None:
    """Make reportlab put an end-of-line marker before every ``endstream``.

    ISO 19005-2 §6.1.7.1 requires it (and ISO 32000-1 §7.3.8.1 recommends it); reportlab writes
    ``…data endstream`` with nothing between (a newline at the end of the data, as in the ICC
    profile, is data counted in /Length, not the marker). The marker is not counted in
    /Length, so this changes no stream's content. Patched once per process; certsvc.rendering is reportlab's only user.
    """
    with _stream_lock:
        if _stream_patched:
            return
        original = PDFStream.format

        def format_with_eol(self: Any, document: Any) -> bytes:
            out: bytes = original(self, document)
            tail = b"endstream\n"
            # Always add one, even after data that ends in a newline: that newline is data
            # counted in /Length, and the marker must come after the counted bytes.
            if out.endswith(tail):
                out = out[: -len(tail)] + b"\n" + tail
            return out

        PDFStream.format = format_with_eol
        _stream_patched.append(True)


# The output intent's profile: sRGB IEC61966-2.1 from Debian's icc-profiles-free (an ICC v2
# profile, "no copyright, use freely"). A file on disk, not Pillow's built-in profile: lcms
# stamps the creation time into the built-in one, which would make renders non-reproducible.
SRGB_PROFILE_PATH = Path("/usr/share/color/icc/sRGB.icc")
SRGB_PROFILE_PACKAGE = "icc-profiles-free"
_srgb_lock = threading.Lock()
_srgb: list[bytes] = []


def srgb_profile() -> bytes:
    """The sRGB ICC profile embedded as the PDF/A output intent (read once per process).

    Raises:
        ConfigurationError: the profile file is missing or is not an RGB display profile.
    """
    with _srgb_lock:
        if _srgb:
            return _srgb[0]
        try:
            data = SRGB_PROFILE_PATH.read_bytes()
        except OSError as exc:
            raise ConfigurationError(
                f"the sRGB ICC profile {SRGB_PROFILE_PATH} is missing; install the Debian package "
                f"{SRGB_PROFILE_PACKAGE} (apt-get install {SRGB_PROFILE_PACKAGE})"
            ) from exc
        # ICC.1 §7.2: bytes 12–15 the device class, 16–19 the colour space, 36–39 "acsp".
        # ISO 19005-2 §6.2.3 wants an output or monitor profile; /N 3 below needs RGB.
        if (
            len(data) < 132
            or data[36:40] != b"acsp"
            or data[16:20] != b"RGB "
            or data[12:16] not in (b"mntr", b"prtr")
        ):
            raise ConfigurationError(f"{SRGB_PROFILE_PATH} is not an RGB display ICC profile")
        _srgb.append(data)
        return data


def _add_output_intent(canvas: Canvas) -> None:
    """The PDF/A output intent (ISO 19005-2 §6.2.3): DeviceRGB colours are meant as sRGB."""
    doc = canvas._doc
    profile = PDFStream(
        dictionary=PDFDictionary({"N": 3}),
        content=srgb_profile(),
    )
    intent = PDFDictionary(
        {
            "Type": PDFName("OutputIntent"),
            "S": PDFName("GTS_PDFA1"),  # the subtype PDF/A-2 uses too (ISO 19005-2 §6.2.3)
            "OutputConditionIdentifier": PDFString("sRGB IEC61966-2.1"),
            "RegistryName": PDFString("http://www.color.org"),
            "Info": PDFString("sRGB IEC61966-2.1"),
            "DestOutputProfile": doc.Reference(profile),
        }
    )
    catalog = doc.Catalog
    # reportlab's catalog writes only the keys it lists in __NoDefault__; extend the list on
    # this one document's catalog rather than patching the class for every document.
    if "OutputIntents" not in catalog.__NoDefault__:
        catalog.__NoDefault__ = [*catalog.__NoDefault__, "OutputIntents"]
    canvas.setCatalogEntry("OutputIntents", PDFArray([intent]))


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
            # XMP also allows simple properties as attributes of rdf:Description; pyHanko
            # writes them so when it rewrites the packet (signing, or re-saving a whole file).
            for name, value in element.attrib.items():
                if name.startswith(prefix):
                    values[name[len(prefix) :]] = value
        if values:
            found = values
    return found
