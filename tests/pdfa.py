"""A checker for the PDF/A-2b (ISO 19005-2, level B) requirements certsvc relies on.

No independent PDF/A validator can be installed here (veraPDF is Java and in neither Debian nor
PyPI; nothing on PyPI validates PDF/A by itself), so each clause our files depend on is checked
by this module, with pyHanko's reader for the object structure and fontTools for embedded font
programs. ``pdfa_2b_problems`` returns one line per violation, prefixed with its clause;
docs/templates.md lists the clauses and what is not checked.
"""

from __future__ import annotations

import io
import re
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

from fontTools.ttLib import TTFont
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

__all__ = ["pdfa_2b_problems", "xmp_values"]

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS = {
    "dc": "http://purl.org/dc/elements/1.1/",
    "pdf": "http://ns.adobe.com/pdf/1.3/",
    "xmp": "http://ns.adobe.com/xap/1.0/",
    "xmpMM": "http://ns.adobe.com/xap/1.0/mm/",
    "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
    "pdfaExtension": "http://www.aiim.org/pdfa/ns/extension/",
    "pdfaSchema": "http://www.aiim.org/pdfa/ns/schema#",
    "pdfaProperty": "http://www.aiim.org/pdfa/ns/property#",
}
# Namespaces of the schemas PDF/A-2 predefines (XMP 2005); anything else needs an extension schema.
_PREDEFINED = {
    NS["dc"],
    NS["pdf"],
    NS["xmp"],
    NS["xmpMM"],
    NS["pdfaid"],
    NS["pdfaExtension"],
    NS["pdfaSchema"],
    NS["pdfaProperty"],
    "http://ns.adobe.com/xap/1.0/rights/",
    "http://ns.adobe.com/photoshop/1.0/",
    "http://ns.adobe.com/xap/1.0/t/pg/",
    RDF,
    "http://www.w3.org/XML/1998/namespace",
    "adobe:ns:meta/",
}
_FORBIDDEN_ANNOTS = {"/3D", "/Sound", "/Screen", "/Movie", "/FileAttachment"}
_SIG_SUBFILTERS = {"/adbe.pkcs7.detached", "/ETSI.CAdES.detached", "/ETSI.RFC3161"}


def _get(container: Any, key: str) -> Any:
    """``container[key]`` resolved (pyHanko's ``.get`` returns indirect references as they are)."""
    if not isinstance(container, generic.DictionaryObject) or key not in container:
        return None
    return container[key]


def _q(prefix: str, name: str) -> str:
    return "{" + NS[prefix] + "}" + name


def _simple(element: ElementTree.Element) -> str | None:
    """Text of a simple property, or of the first item of an Alt/Seq/Bag."""
    if element.get(f"{{{RDF}}}resource") is not None:
        return element.get(f"{{{RDF}}}resource")
    for container in ("Alt", "Seq", "Bag"):
        li = element.find(f"{{{RDF}}}{container}/{{{RDF}}}li")
        if li is not None:
            return li.text or ""
    if len(element) == 0:
        return element.text or ""
    return None


def xmp_values(packet: bytes) -> dict[str, str]:
    """Top-level XMP properties as ``{"{ns}name": value}``, from elements or attributes.

    Both serialisations occur in our files: ours writes elements, pyHanko's rewrite during
    signing writes simple values as attributes of rdf:Description.
    """
    root = ElementTree.fromstring(packet)
    values: dict[str, str] = {}
    for description in root.iter(f"{{{RDF}}}Description"):
        if description.get(f"{{{RDF}}}about") is None:
            continue  # a nested resource (extension schema), not a top-level description
        for key, value in description.attrib.items():
            if not key.startswith(f"{{{RDF}}}"):
                values[key] = value
        for child in description:
            value = _simple(child)
            if value is not None:
                values[child.tag] = value
            else:
                values[child.tag] = ""
    return values


def _declared_extension_properties(root: ElementTree.Element) -> dict[str, set[str]]:
    """namespace URI → property names declared in pdfaExtension:schemas."""
    declared: dict[str, set[str]] = {}
    for schemas in root.iter(_q("pdfaExtension", "schemas")):
        for li in schemas.iter(f"{{{RDF}}}li"):
            node = li.find(f"{{{RDF}}}Description")
            node = node if node is not None else li
            uri_el = node.find(_q("pdfaSchema", "namespaceURI"))
            uri = (
                node.get(_q("pdfaSchema", "namespaceURI"))
                or (uri_el is not None and (uri_el.text or uri_el.get(f"{{{RDF}}}resource")))
                or None
            )
            if not uri:
                continue
            names = declared.setdefault(str(uri), set())
            for prop in node.iter():
                name = prop.get(_q("pdfaProperty", "name"))
                if name:
                    names.add(name)
                if prop.tag == _q("pdfaProperty", "name") and prop.text:
                    names.add(prop.text)
    return declared


def _pdf_date(value: str) -> datetime:
    m = re.match(r"D:(\d{14})(Z|[+-]\d\d'\d\d'?)?", value)
    if not m:
        raise ValueError(value)
    tz = m.group(2) or "Z"
    tz = "+00:00" if tz == "Z" else tz[:3] + ":" + tz[4:6]
    return datetime.strptime(m.group(1) + tz, "%Y%m%d%H%M%S%z")


def _check_streams(data: bytes, problems: list[str]) -> None:
    """§6.1.7.1: ``stream`` + CRLF/LF, /Length exact, an EOL before ``endstream``."""
    for m in re.finditer(rb"(?<!end)stream(\r\n|\n|\r)?", data):
        if m.group(1) is None or m.group(1) == b"\r":
            problems.append(f"6.1.7.1 stream keyword at {m.start()} not followed by CRLF or LF")
            continue
        start = m.end()
        obj_start = data.rfind(b" obj", 0, m.start())
        length = re.findall(rb"/Length (\d+)( \d+ R)?", data[obj_start : m.start()])
        if not length:
            problems.append(f"6.1.7.1 stream at {start}: no /Length found")
            continue
        number, is_ref = length[-1]
        if is_ref:
            continue  # an indirect /Length: pyHanko's reader has checked it while parsing
        end = start + int(number)
        if not re.match(rb"(\r\n|\n|\r)endstream", data[end : end + 11]):
            problems.append(f"6.1.7.1 stream at {start}: /Length {int(number)} does not end at EOL + endstream")


def _fonts_in(resources: Any, seen: set[int], problems: list[str], where: str) -> None:
    if not isinstance(resources, generic.DictionaryObject):
        return
    fonts = _get(resources, "/Font")
    if isinstance(fonts, generic.DictionaryObject):
        for name, ref in fonts.items():
            font = ref.get_object()
            key = id(font)
            if key in seen:
                continue
            seen.add(key)
            _check_font(font, problems, f"{where} font {name}")
    xobjects = _get(resources, "/XObject")
    if isinstance(xobjects, generic.DictionaryObject):
        for name, ref in xobjects.items():
            xobject = ref.get_object()
            if id(xobject) in seen:
                continue
            seen.add(id(xobject))
            if _get(xobject, "/Subtype") == "/Image":
                cs = _get(xobject, "/ColorSpace")
                cs = cs.get_object() if cs is not None else None
                if cs in ("/DeviceCMYK",):
                    problems.append(f"6.2.4.3 {where} image {name} uses DeviceCMYK with an RGB output intent")
            elif _get(xobject, "/Subtype") == "/Form":
                if "/PS" in xobject or _get(xobject, "/Subtype2") == "/PS":
                    problems.append(f"6.2.9 {where} form {name} is a PostScript XObject")
                _check_content(xobject.data, problems, f"{where} form {name}")
                _fonts_in(_get(xobject, "/Resources"), seen, problems, f"{where} form {name}")


def _check_font(font: Any, problems: list[str], where: str) -> None:
    subtype = _get(font, "/Subtype")
    if subtype == "/Type3":
        return
    if subtype == "/Type0":
        (descendant,) = font["/DescendantFonts"]
        descendant = descendant.get_object()
        if _get(descendant, "/Subtype") == "/CIDFontType2" and "/CIDToGIDMap" not in descendant:
            problems.append(f"6.2.11.3.2 {where}: CIDFontType2 without /CIDToGIDMap")
        font_for_descriptor = descendant
    else:
        font_for_descriptor = font
    descriptor = _get(font_for_descriptor, "/FontDescriptor")
    if descriptor is None:
        problems.append(f"6.2.11.4.1 {where}: no font descriptor (not embedded)")
        return
    descriptor = descriptor.get_object()
    files = [k for k in ("/FontFile", "/FontFile2", "/FontFile3") if k in descriptor]
    if not files:
        problems.append(f"6.2.11.4.1 {where}: font program not embedded")
        return
    if subtype == "/TrueType":
        symbolic = int(descriptor.get("/Flags", 0)) & 4
        program = TTFont(io.BytesIO(descriptor["/FontFile2"].get_object().data))
        subtables = [(t.platformID, t.platEncID) for t in program["cmap"].tables]
        if symbolic:
            if "/Encoding" in font:
                problems.append(f"6.2.11.6 {where}: symbolic TrueType font with /Encoding")
            if len(subtables) != 1 and (3, 0) not in subtables:
                problems.append(f"6.2.11.6 {where}: symbolic TrueType cmap {subtables}")
        elif _get(font, "/Encoding") not in ("/MacRomanEncoding", "/WinAnsiEncoding"):
            problems.append(f"6.2.11.6 {where}: non-symbolic TrueType font without a standard encoding")
        widths = _get(font, "/Widths")
        first = int(font.get("/FirstChar", 0))
        if widths is not None and "hmtx" in program and "cmap" in program:
            # §6.2.11.5: /Widths must match the embedded program (1/1000 em, small tolerance).
            cmap = program["cmap"].tables[0].cmap
            upem = program["head"].unitsPerEm
            for code, glyph in cmap.items():
                index = code - first
                if 0 <= index < len(widths):
                    actual = program["hmtx"][glyph][0] * 1000 / upem
                    if abs(float(widths[index]) - actual) > 1:
                        problems.append(f"6.2.11.5 {where}: width of code {code} {widths[index]} ≠ {actual:.0f}")
                        break


_CMYK_OPS = re.compile(rb"(?<![A-Za-z])(k|K)(?![A-Za-z])")


def _check_content(content: bytes, problems: list[str], where: str) -> None:
    # §6.2.4.3: with an RGB output intent, DeviceCMYK colour operators are not allowed.
    # Only operator tokens matter; strip strings first so text like "(k)" is not a hit.
    stripped = re.sub(rb"\((?:\\.|[^\\)])*\)|<[0-9A-Fa-f\s]*>", b"", content)
    if _CMYK_OPS.search(stripped):
        problems.append(f"6.2.4.3 {where}: DeviceCMYK colour operator with an RGB output intent")


def pdfa_2b_problems(data: bytes) -> list[str]:
    """Every violation found of the PDF/A-2b clauses listed in docs/templates.md (empty: none)."""
    problems: list[str] = []
    # §6.1.2 file header, followed by a comment line of at least four bytes ≥ 128.
    if not re.match(rb"%PDF-1\.[0-7](\r\n|\r|\n)%[\x80-\xff]{4}", data):
        problems.append("6.1.2 header is not %PDF-1.n + EOL + binary comment")
    if not re.search(rb"%%EOF(\r\n|\r|\n)?$", data):
        problems.append("6.1.3 no %%EOF at the end of the file")
    _check_streams(data, problems)
    reader = PdfFileReader(io.BytesIO(data), strict=False)
    trailer = reader.trailer
    if "/Encrypt" in trailer:
        problems.append("6.1.3 the file is encrypted")
    ids = trailer["/ID"] if "/ID" in trailer else None
    if not ids or len(ids) != 2:
        problems.append("6.1.3 trailer has no /ID with two strings")
    root = reader.root

    # §6.2.3 output intent with an embedded ICC profile of an output or monitor device.
    intents = _get(root, "/OutputIntents")
    profiles = set()
    for intent in intents or []:
        intent = intent.get_object()
        if _get(intent, "/S") != "/GTS_PDFA1":
            continue
        stream = _get(intent, "/DestOutputProfile")
        if stream is None:
            problems.append("6.2.3 PDF/A output intent without DestOutputProfile")
            continue
        stream = stream.get_object()
        icc = stream.data
        profiles.add(icc)
        if icc[36:40] != b"acsp" or icc[12:16] not in (b"mntr", b"prtr"):
            problems.append("6.2.3 DestOutputProfile is not an output/monitor ICC profile")
        if icc[16:20] != b"RGB " or int(stream.get("/N", 0)) != 3:
            problems.append("6.2.3 DestOutputProfile is not RGB with /N 3")
        if icc[8] > 4:
            problems.append("6.2.3 ICC profile version later than 4")
    if len(profiles) != 1:
        problems.append(f"6.2.3 expected one PDF/A output intent profile, found {len(profiles)}")

    # §6.1.10/6.5: no JavaScript or additional actions at document level; §6.4.1 forms.
    if "/AA" in root:
        problems.append("6.5.2 catalog has /AA")
    names = _get(root, "/Names")
    if names is not None and "/JavaScript" in names.get_object():
        problems.append("6.5.1 document-level JavaScript")
    acroform = _get(root, "/AcroForm")
    if acroform is not None:
        acroform = acroform.get_object()
        if _get(acroform, "/NeedAppearances") is True or _get(acroform, "/NeedAppearances") == generic.BooleanObject(True):
            problems.append("6.4.1 /NeedAppearances true")
        if "/XFA" in acroform:
            problems.append("6.4.2 XFA form")
        for field in _get(acroform, "/Fields") or []:
            field = field.get_object()
            if _get(field, "/FT") == "/Sig" and "/V" in field:
                sig = field["/V"].get_object()
                if _get(sig, "/SubFilter") not in _SIG_SUBFILTERS:
                    problems.append(f"6.4.3 signature SubFilter {_get(sig, '/SubFilter')} not allowed")

    # §6.2.11 fonts (pages, forms, annotation appearances), §6.3 annotations, §6.2.4.3 colour.
    seen: set[int] = set()
    for index, page in enumerate(reader.root["/Pages"]["/Kids"]):
        page = page.get_object()
        where = f"page {index + 1}"
        if "/AA" in page:
            problems.append(f"6.5.2 {where} has /AA")
        if "/PresSteps" in page:
            problems.append(f"6.10 {where} has /PresSteps")
        contents = _get(page, "/Contents")
        if contents is not None:
            contents = contents.get_object()
            streams = contents if isinstance(contents, generic.ArrayObject) else [contents]
            for stream in streams:
                _check_content(stream.get_object().data, problems, where)
        _fonts_in(_get(page, "/Resources"), seen, problems, where)
        for annot in _get(page, "/Annots") or []:
            annot = annot.get_object()
            subtype = _get(annot, "/Subtype")
            if subtype in _FORBIDDEN_ANNOTS:
                problems.append(f"6.3.1 {where} annotation {subtype} not allowed")
            flags = int(annot.get("/F", 0))
            if subtype != "/Popup" and (not flags & 4 or flags & (1 | 2 | 32)):
                problems.append(f"6.3.2 {where} annotation {subtype} flags {flags}: must print, never hide")
            ap = _get(annot, "/AP")
            if ap is not None:
                ap = ap.get_object()
                if set(ap.keys()) != {"/N"}:
                    problems.append(f"6.3.3 {where} annotation appearance has {sorted(ap.keys())}")
                normal = ap["/N"].get_object()
                if isinstance(normal, generic.StreamObject):
                    _check_content(normal.data, problems, f"{where} annotation")
                    _fonts_in(_get(normal, "/Resources"), seen, problems, f"{where} annotation")

    # §6.6.2.1 metadata stream; §6.6.4 identification; §6.6.2.3.1 extension schemas.
    meta_ref = _get(root, "/Metadata")
    if meta_ref is None:
        problems.append("6.6.2.1 catalog has no /Metadata")
        return problems
    meta = meta_ref.get_object()
    if "/Filter" in meta:
        problems.append("6.6.2.1 metadata stream has a /Filter key")
    if _get(meta, "/Type") != "/Metadata" or _get(meta, "/Subtype") != "/XML":
        problems.append("6.6.2.1 metadata stream is not /Type /Metadata /Subtype /XML")
    packet = meta.data
    header = re.match(rb"<\?xpacket([^?]*)\?>", packet.lstrip())
    if header is None:
        problems.append("6.6.2.1 XMP without an xpacket header")
    elif b"bytes=" in header.group(1) or b"encoding=" in header.group(1):
        problems.append("6.6.2.1 xpacket header uses bytes= or encoding=")
    try:
        values = xmp_values(packet)
        xml_root = ElementTree.fromstring(packet)
    except ElementTree.ParseError as exc:
        problems.append(f"6.6.2.1 XMP does not parse: {exc}")
        return problems
    if values.get(_q("pdfaid", "part")) != "2" or values.get(_q("pdfaid", "conformance")) != "B":
        problems.append("6.6.4 pdfaid:part is not 2 / pdfaid:conformance is not B")
    declared = _declared_extension_properties(xml_root)
    for key in values:
        ns, _, name = key[1:].partition("}")
        if ns not in _PREDEFINED and name not in declared.get(ns, set()):
            problems.append(f"6.6.2.3.1 XMP property {name} of {ns} has no extension schema")

    # Info dictionary entries mirrored in XMP with the same value (ISO 19005-2 §6.6.2.3.1 note,
    # and what veraPDF's metadata checks compare).
    info = trailer["/Info"].get_object() if "/Info" in trailer else {}
    pairs = {
        "/Title": _q("dc", "title"),
        "/Author": _q("dc", "creator"),
        "/Subject": _q("dc", "description"),
        "/Keywords": _q("pdf", "Keywords"),
        "/Creator": _q("xmp", "CreatorTool"),
        "/Producer": _q("pdf", "Producer"),
    }
    for key, prop in pairs.items():
        if key in info and str(info[key]) != values.get(prop):
            problems.append(f"info {key}={info[key]!r} ≠ XMP {values.get(prop)!r}")
    for key, prop in {"/CreationDate": _q("xmp", "CreateDate"), "/ModDate": _q("xmp", "ModifyDate")}.items():
        if key in info:
            xmp_value = values.get(prop)
            if xmp_value is None or _pdf_date(str(info[key])) != datetime.fromisoformat(xmp_value):
                problems.append(f"info {key}={info[key]!r} ≠ XMP {xmp_value!r}")
    if "/Trapped" in info:
        problems.append("info /Trapped has no XMP counterpart in the predefined schemas")
    return problems
