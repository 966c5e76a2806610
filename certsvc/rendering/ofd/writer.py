"""A :class:`LicenceScene` and its GB/T 36903 metadata → an OFD package (GB/T 33190-2016).

Package layout (the smallest one readers and national platforms accept, STANDARDS §1.6)::

    OFD.xml                          DocInfo (CustomDatas = GB/T 36903 metadata), DocRoot
    Doc_0/Document.xml               page area, resources, pages, MaxUnitID
    Doc_0/PublicRes.xml              fonts  → Doc_0/Res/font_<id>.ttf (subsets)
    Doc_0/DocumentRes.xml            images → Doc_0/Res/image_<id>.png|jpg
    Doc_0/Pages/Page_<n>/Content.xml text, paths, images of one page

The seal is not drawn: like the electronic PDF, the page leaves the seal box empty, and the
signature (``Doc_0/Signs``, added by sealing) makes readers draw the seal picture there. The
bytes are deterministic: the same scene and metadata give the same package.
"""

from __future__ import annotations

import hashlib
import io
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from certsvc.domain.ofd_xml import QUALIFIED, ofd_element, ofd_number, xml_document
from certsvc.rendering.mongolian_pdf import MONGOLIAN_PDF_FONT
from certsvc.rendering.ofd.font_subset import subset_font, subset_font_cached
from certsvc.rendering.ofd.scene import ImageMark, LicenceScene, PathMark, Rgb, TextMark

__all__ = ["OfdMetadata", "write_ofd"]

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed entry times: equal input, equal bytes


@dataclass(frozen=True, slots=True)
class OfdMetadata:
    """``OFD.xml`` DocInfo: the descriptive fields and the GB/T 36903 custom data (in order)."""

    doc_id: str  # 32 hex digits (GB/T 33190 §7.4: a UUID-like identifier of the document)
    title: str
    author: str
    subject: str
    keywords: tuple[str, ...]
    created_on: date
    custom_data: tuple[tuple[str, str], ...]


def _color(value: Rgb) -> str:
    return f"{value[0]} {value[1]} {value[2]}"


class _Ids:
    """GB/T 33190 §7.5: object IDs are unique in the document; MaxUnitID is the largest."""

    def __init__(self) -> None:
        self.last = 0

    def __call__(self) -> str:
        self.last += 1
        return str(self.last)


def _image_format(data: bytes) -> tuple[str, str]:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG", "png"
    if data.startswith(b"\xff\xd8"):
        return "JPEG", "jpg"
    return "PNG", "png"  # the renderer only accepts images Pillow reads; PNG is the usual case


def _ofd_xml(meta: OfdMetadata) -> bytes:
    root = ET.Element(QUALIFIED + "OFD", {"Version": "1.0", "DocType": "OFD"})
    body = ofd_element(root, "DocBody")
    info = ofd_element(body, "DocInfo")
    ofd_element(info, "DocID", meta.doc_id)
    ofd_element(info, "Title", meta.title)
    ofd_element(info, "Author", meta.author)
    ofd_element(info, "Subject", meta.subject)
    ofd_element(info, "CreationDate", meta.created_on.isoformat())
    ofd_element(info, "Creator", "certsvc")
    ofd_element(info, "CreatorVersion", "0.1.0")
    keywords = ofd_element(info, "Keywords")
    for word in meta.keywords:
        ofd_element(keywords, "Keyword", word)
    custom = ofd_element(info, "CustomDatas")
    for name, value in meta.custom_data:
        ofd_element(custom, "CustomData", value, Name=name)
    ofd_element(body, "DocRoot", "Doc_0/Document.xml")
    return xml_document(root)


def _text_object(layer: ET.Element, ids: _Ids, mark: TextMark, font_id: str) -> None:
    width = sum(mark.advances) + mark.size
    # The boundary only needs to contain the glyphs (readers clip to it): one em above the
    # baseline and a third below is more than any CJK face reaches.
    top = mark.y - mark.size * 1.2
    attrs = {
        "ID": ids(),
        "Boundary": f"{ofd_number(mark.x)} {ofd_number(top)} {ofd_number(width)} {ofd_number(mark.size * 1.6)}",
        "Font": font_id,
        "Size": ofd_number(mark.size),
    }
    if mark.is_bold:
        attrs["Stroke"] = "true"
        attrs["LineWidth"] = ofd_number(mark.stroke_width)
    if mark.is_invisible:
        attrs["Fill"] = "false"  # the text layer under glyphs drawn as paths (ofd/shaped_text.py)
    text = ofd_element(layer, "TextObject", **attrs)
    ofd_element(text, "FillColor", Value=_color(mark.fill))
    if mark.is_bold:
        ofd_element(text, "StrokeColor", Value=_color(mark.fill))
    code_attrs = {"X": "0", "Y": ofd_number(mark.y - top)}
    if mark.advances:
        code_attrs["DeltaX"] = " ".join(ofd_number(a) for a in mark.advances)
    ofd_element(text, "TextCode", mark.text, **code_attrs)


def _path_object(layer: ET.Element, ids: _Ids, mark: PathMark, page: tuple[float, float]) -> None:
    attrs = {
        "ID": ids(),
        "Boundary": f"0 0 {ofd_number(page[0])} {ofd_number(page[1])}",
        "LineWidth": ofd_number(mark.line_width),
        "Stroke": "true" if mark.stroke is not None else "false",
        "Fill": "true" if mark.fill is not None else "false",
    }
    path = ofd_element(layer, "PathObject", **attrs)
    if mark.stroke is not None:
        ofd_element(path, "StrokeColor", Value=_color(mark.stroke))
    if mark.fill is not None:
        ofd_element(path, "FillColor", Value=_color(mark.fill))
    ofd_element(path, "AbbreviatedData", mark.data)


def _image_object(layer: ET.Element, ids: _Ids, mark: ImageMark, resource_id: str) -> None:
    ofd_element(
        layer,
        "ImageObject",
        ID=ids(),
        Boundary=f"{ofd_number(mark.x)} {ofd_number(mark.y)} {ofd_number(mark.width)} {ofd_number(mark.height)}",
        # GB/T 33190 §8.2: an image fills the unit square of its own space; the CTM scales it.
        CTM=f"{ofd_number(mark.width)} 0 0 {ofd_number(mark.height)} 0 0",
        ResourceID=resource_id,
    )


def _entries(scene: LicenceScene, meta: OfdMetadata) -> Iterator[tuple[str, bytes]]:
    ids = _Ids()
    # Resources first, so their IDs are known to the pages.
    used: dict[str, list[str]] = {}
    images: dict[bytes, str] = {}
    for page in scene.pages:
        for mark in page.marks:
            if isinstance(mark, TextMark):
                used.setdefault(mark.font, []).append(mark.text)
    font_ids = {name: ids() for name in sorted(used)}
    image_ids: dict[str, str] = {}
    for page in scene.pages:
        for mark in page.marks:
            if isinstance(mark, ImageMark):
                digest = hashlib.sha256(mark.data).hexdigest()
                if digest not in image_ids:
                    image_ids[digest] = ids()
                    images[mark.data] = image_ids[digest]

    public = ET.Element(QUALIFIED + "Res", {"BaseLoc": "Res"})
    font_files: list[tuple[str, bytes]] = []
    if font_ids:
        fonts_el = ofd_element(public, "Fonts")
        for name, font_id in font_ids.items():
            text = "".join(used[name])
            embedded = subset_font_cached(name, text) if name == MONGOLIAN_PDF_FONT else subset_font(name, text)
            font_el = ofd_element(fonts_el, "Font", ID=font_id, FontName=embedded.family, FamilyName=embedded.family)
            file_name = f"font_{font_id}.ttf"
            ofd_element(font_el, "FontFile", file_name)
            font_files.append((file_name, embedded.data))
    document_res = ET.Element(QUALIFIED + "Res", {"BaseLoc": "Res"})
    image_files: list[tuple[str, bytes]] = []
    if images:
        media = ofd_element(document_res, "MultiMedias")
        for data, image_id in images.items():
            fmt, ext = _image_format(data)
            item = ofd_element(media, "MultiMedia", ID=image_id, Type="Image", Format=fmt)
            file_name = f"image_{image_id}.{ext}"
            ofd_element(item, "MediaFile", file_name)
            image_files.append((file_name, data))

    page_xml: list[tuple[str, bytes]] = []
    page_ids: list[str] = []
    size = (scene.width, scene.height)
    for index, page in enumerate(scene.pages):
        page_ids.append(ids())
        root = ET.Element(QUALIFIED + "Page")
        layer = ofd_element(ofd_element(root, "Content"), "Layer", ID=ids(), Type="Body")
        for mark in page.marks:
            if isinstance(mark, TextMark):
                _text_object(layer, ids, mark, font_ids[mark.font])
            elif isinstance(mark, PathMark):
                _path_object(layer, ids, mark, size)
            else:
                _image_object(layer, ids, mark, image_ids[hashlib.sha256(mark.data).hexdigest()])
        page_xml.append((f"Doc_0/Pages/Page_{index}/Content.xml", xml_document(root)))

    document = ET.Element(QUALIFIED + "Document")
    common = ofd_element(document, "CommonData")
    ofd_element(common, "MaxUnitID", str(ids.last))
    ofd_element(
        ofd_element(common, "PageArea"),
        "PhysicalBox",
        f"0 0 {ofd_number(scene.width)} {ofd_number(scene.height)}",
    )
    ofd_element(common, "PublicRes", "PublicRes.xml")
    ofd_element(common, "DocumentRes", "DocumentRes.xml")
    pages_el = ofd_element(document, "Pages")
    for index, page_id in enumerate(page_ids):
        ofd_element(pages_el, "Page", ID=page_id, BaseLoc=f"Pages/Page_{index}/Content.xml")

    yield "OFD.xml", _ofd_xml(meta)
    yield "Doc_0/Document.xml", xml_document(document)
    yield "Doc_0/PublicRes.xml", xml_document(public)
    yield "Doc_0/DocumentRes.xml", xml_document(document_res)
    for name, data in font_files + image_files:
        yield f"Doc_0/Res/{name}", data
    yield from page_xml


def write_ofd(scene: LicenceScene, meta: OfdMetadata) -> bytes:
    """The OFD package (a ZIP file, GB/T 33190 §7.1) of a licence scene.

    Raises:
        RenderingError: a font cannot be embedded.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in _entries(scene, meta):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            # Fonts and XML shrink a lot; PNG/JPEG are compressed already.
            is_image = name.endswith((".png", ".jpg"))
            info.compress_type = zipfile.ZIP_STORED if is_image else zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()
