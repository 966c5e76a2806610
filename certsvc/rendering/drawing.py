"""Shared drawing pieces: cached images, the QR matrix, guilloche paths."""

from __future__ import annotations

import copy
import functools
import hashlib
import io
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import segno
from reportlab.lib.colors import HexColor
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase.pdfdoc import PDFImageXObject
from reportlab.pdfgen.canvas import Canvas

from certsvc.domain.pdf_numbers import pdf_number
from certsvc.errors import RenderingError
from certsvc.rendering import qr_masks
from certsvc.rendering.template_model import MM, LayoutItem

_WHITE = HexColor("#FFFFFF")
_BLACK = HexColor("#000000")

__all__ = [
    "CachedImage",
    "cached_image",
    "draw_cached_image",
    "draw_guilloche",
    "draw_qr_modules",
    "fit_image",
    "guilloche_ops",
    "qr_matrix",
    "use_cached_image",
]


def draw_guilloche(canvas: Canvas, item: LayoutItem, w_mm: float, h_mm: float) -> None:
    """A decorative band of interlaced sine strands around the page (anti-copy look).

    The strands are pure functions of the layout, so their PDF path operators are computed
    once per template and appended as literal content (``addLiteral``): building ~5,000
    path segments through reportlab per render would double the render time.
    """
    inset, band = item.num("inset"), item.num("band")
    waves = int(item.props.get("waves", 60))
    strands = int(item.props.get("strands", 3))
    canvas.saveState()
    canvas.setStrokeColor(HexColor(str(item.props.get("color") or "#B8860B")))
    canvas.setLineWidth(0.35)
    canvas.addLiteral(guilloche_ops(w_mm, h_mm, inset, band, waves, strands))
    canvas.setLineWidth(0.8)
    for edge in (inset, inset + band):
        canvas.rect(edge * MM, edge * MM, (w_mm - 2 * edge) * MM, (h_mm - 2 * edge) * MM)
    canvas.restoreState()


def draw_qr_modules(canvas: Canvas, matrix: tuple[bytearray, ...], left: float, top: float, size: float) -> None:
    """The QR code's dark modules (runs of a row as one rectangle) on a white square, in points."""
    n = len(matrix)
    quiet = 4  # ISO/IEC 18004 §6.3.8: four-module quiet zone
    module = size / (n + 2 * quiet)
    canvas.setFillColor(_WHITE)
    canvas.rect(left, top - size, size, size, stroke=0, fill=1)
    canvas.setFillColor(_BLACK)
    path = canvas.beginPath()
    overlap = module * 0.03  # hides hairline seams between rows in anti-aliasing viewers
    for r, row in enumerate(matrix):
        c = 0
        while c < n:
            if row[c] & 1:
                start = c
                while c < n and row[c] & 1:
                    c += 1
                path.rect(
                    left + (quiet + start) * module,
                    top - (quiet + r + 1) * module - overlap,
                    (c - start) * module,
                    module + overlap,
                )
            else:
                c += 1
    canvas.drawPath(path, stroke=0, fill=1)


@functools.lru_cache(maxsize=32)
def guilloche_ops(
    w_mm: float, h_mm: float, inset: float, band: float, waves: int, strands: int
) -> str:
    """PDF path operators (points, origin bottom-left) for the guilloche strands, stroked."""
    mid = inset + band / 2
    # Centre line of the band, walked clockwise from the top-left corner (y downwards, in mm).
    sides = [
        ((mid, mid), (w_mm - mid, mid)),
        ((w_mm - mid, mid), (w_mm - mid, h_mm - mid)),
        ((w_mm - mid, h_mm - mid), (mid, h_mm - mid)),
        ((mid, h_mm - mid), (mid, mid)),
    ]
    perimeter = sum(abs(b[0] - a[0]) + abs(b[1] - a[1]) for a, b in sides)
    steps = max(400, waves * 16)
    amp = band / 2 * 0.9
    ops: list[str] = []
    for s in range(strands):
        phase = 2 * math.pi * s / strands
        for k in range(steps + 1):
            (x, y), (nx, ny) = _walk(sides, perimeter * k / steps)
            off = amp * math.sin(2 * math.pi * waves * k / steps + phase)
            ops.append(
                f"{pdf_number((x + nx * off) * MM, 2)} {pdf_number((h_mm - (y + ny * off)) * MM, 2)} "
                + ("m" if k == 0 else "l")
            )
        ops.append("S")
    return "\n".join(ops)


def _walk(
    sides: list[tuple[tuple[float, float], tuple[float, float]]], dist: float
) -> tuple[tuple[float, float], tuple[float, float]]:
    """Point at ``dist`` along a closed rectangle and the outward normal there."""
    for (ax, ay), (bx, by) in sides:
        length = abs(bx - ax) + abs(by - ay)
        if dist <= length or (bx, by) == sides[-1][1]:
            f = min(1.0, dist / length) if length else 0.0
            dx, dy = (bx - ax) / length, (by - ay) / length
            return (ax + (bx - ax) * f, ay + (by - ay) * f), (dy, -dx)
        dist -= length
    raise AssertionError("unreachable")  # pragma: no cover


# --- caches ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CachedImage:
    """An image already encoded as PDF XObjects (colour + soft mask), reusable across documents.

    reportlab re-decodes, re-hashes and re-compresses an image for every new canvas (~20 ms
    for a 600 dpi seal — half the render budget). The encoded stream does not depend on the
    document, so it is built once per distinct image and copied into each PDF.
    """

    name: str
    width: int
    height: int
    image: Any  # reportlab PDFImageXObject without document references
    smask: Any | None


_image_lock = threading.Lock()
_images: OrderedDict[bytes, CachedImage] = OrderedDict()


def cached_image(data: bytes) -> CachedImage:
    key = hashlib.sha256(data).digest()
    with _image_lock:
        cached = _images.get(key)
        if cached is not None:
            _images.move_to_end(key)
            return cached
    try:
        reader = ImageReader(io.BytesIO(data))
        name = "img" + key.hex()[:24]
        xobject = PDFImageXObject(name, reader, mask="auto")
    except Exception as exc:  # PIL/reportlab raise many types for damaged images
        raise RenderingError("an image for the licence cannot be decoded") from exc
    smask = getattr(xobject, "_smask", None)
    if smask is not None:
        del xobject._smask
    cached = CachedImage(name, int(xobject.width), int(xobject.height), xobject, smask)
    with _image_lock:
        _images[key] = cached
        while len(_images) > 32:
            _images.popitem(last=False)
    return cached


def draw_cached_image(
    canvas: Canvas, cached: CachedImage, x: float, y: float, width: float, height: float
) -> None:
    """What ``Canvas.drawImage`` does after its encoding step (reportlab 4/5 internals).

    tests/rendering checks the result with poppler (the image and its soft mask are present),
    so a reportlab change that breaks this shows up as a failing test, not a blank seal.
    """
    reg_name = use_cached_image(canvas, cached)
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(width, height)
    canvas._code.append(f"/{reg_name} Do")
    canvas.restoreState()


def use_cached_image(canvas: Canvas, cached: CachedImage) -> str:
    """Add the image to the canvas's document and current page (no drawing); its XObject name.

    Content operators replayed from another document call this for each image they paint.
    """
    doc = canvas._doc
    reg_name: str = doc.getXObjectName(cached.name)
    if not doc.idToObject.get(reg_name):
        image = copy.copy(cached.image)
        doc.Reference(image, reg_name)
        doc.addForm(cached.name, image)
        if cached.smask is not None:
            smask = copy.copy(cached.smask)
            image.smask = doc.Reference(smask, doc.getXObjectName(smask.name))
    canvas._currentPageHasImages = 1
    canvas._formsinuse.append(cached.name)
    return reg_name


def fit_image(box_w: float, box_h: float, img_w: int, img_h: int) -> tuple[float, float, float, float]:
    """Centre an image in a box keeping its aspect ratio: (dx, dy, w, h)."""
    scale = min(box_w / img_w, box_h / img_h)
    w, h = img_w * scale, img_h * scale
    return (box_w - w) / 2, (box_h - h) / 2, w, h


qr_masks.install()  # segno's mask choice, computed with arrays (qr_masks.py)


def qr_matrix(url: str) -> tuple[bytearray, ...]:
    try:
        # Error correction M (15 %): survives a fold or a stamp edge while keeping modules
        # large enough for phone cameras at 25–30 mm; boost_error=False keeps it exactly M.
        qr = segno.make(url, error="m", micro=False, boost_error=False)
    except segno.DataOverflowError as exc:
        raise RenderingError("verify URL is too long for a QR code") from exc
    return tuple(qr.matrix)
