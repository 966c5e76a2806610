"""easyofd (PyPI), an OFD reader nobody here wrote, opens every sealed licence OFD and renders it.

Its render is compared with the electronic PDF of the same licence, character by character:
every character easyofd draws must be one the PDF draws at the same place (within 1 mm), and
every character of the PDF must be drawn. easyofd fills no paths (rules and the QR code come out
as outlines), so the comparison is about text, which is where a layout drift would show.

easyofd draws all text in the face it knows as 宋体 (it looks for SimSun); the test registers the
AR PL UMing file under that name, as a Linux machine with Chinese fonts would provide it.
"""

from __future__ import annotations

import base64
from collections import Counter

import pytest

pytest.importorskip("easyofd")
pymupdf = pytest.importorskip("pymupdf")

from loguru import logger  # noqa: E402 - easyofd's logger, silenced below
from reportlab.pdfbase import pdfmetrics  # noqa: E402
from reportlab.pdfbase.ttfonts import TTFont  # noqa: E402

from certsvc.rendering.fonts import DEFAULT_FONTS  # noqa: E402
from certsvc.rendering.renderer import RenderedLicence  # noqa: E402
from certsvc.rendering.templates import TemplateRegistry  # noqa: E402
from tests.crypto.ofd_fixtures import sealed_ofd  # noqa: E402
from tests.sm2_pki import build_sm2_pki  # noqa: E402

pytestmark = [pytest.mark.interop, pytest.mark.slow, pytest.mark.db_independent]
TOLERANCE_MM = 1.0


def _chars(pdf: bytes, width_mm: float, height_mm: float) -> list[tuple[str, float, float]]:
    """Every drawn character with its baseline origin in millimetres (easyofd draws at its own
    scale, so positions are taken relative to the page size)."""
    out = []
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        for page_no, page in enumerate(doc):
            sx, sy = width_mm / page.rect.width, height_mm / page.rect.height
            for block in page.get_text("rawdict")["blocks"]:
                for line in block.get("lines", []):
                    for span in line["spans"]:
                        for ch in span["chars"]:
                            if not ch["c"].isspace():
                                x, y = ch["origin"]
                                out.append((ch["c"], x * sx, y * sy + page_no * 10_000))
    return out


def easyofd_pdf(ofd: bytes) -> bytes:
    from easyofd.ofd import OFD

    logger.disable("easyofd")
    if "宋体" not in pdfmetrics.getRegisteredFontNames():
        spec = DEFAULT_FONTS["song"]
        pdfmetrics.registerFont(TTFont("宋体", str(spec.path), subfontIndex=spec.subfont_index))
    reader = OFD()
    reader.read(base64.b64encode(ofd).decode(), save_xml=False)
    try:
        pdf: bytes = reader.to_pdf()
        images = reader.to_jpg()
    finally:
        reader.del_data()
    assert images and images[0].size[0] > 500, "easyofd rendered the page to an image"
    return pdf


def _red_share(pdf: bytes, page_no: int, box_mm: tuple[float, float, float, float], size: tuple[float, float]) -> float:
    """Share of seal-red pixels inside ``box_mm`` on easyofd's render of one page."""
    with pymupdf.open(stream=pdf, filetype="pdf") as doc:
        page = doc[page_no]
        sx, sy = page.rect.width / size[0], page.rect.height / size[1]
        x, y, w, h = box_mm
        clip = pymupdf.Rect(x * sx, y * sy, (x + w) * sx, (y + h) * sy)
        pix = page.get_pixmap(dpi=36, clip=clip, colorspace=pymupdf.csRGB, alpha=False)
    samples = pix.samples
    red = sum(1 for i in range(0, len(samples), 3) if samples[i] > 150 and samples[i + 1] < 110 and samples[i + 2] < 110)
    return red / max(1, pix.width * pix.height)


def test_easyofd_renders_every_sealed_licence_like_the_pdf(
    registry: TemplateRegistry, rendered: dict[str, tuple[object, RenderedLicence]]
) -> None:
    pki = build_sm2_pki()
    for index, template in enumerate(registry.all()):
        _, licence = rendered[template.slug]
        sealed = sealed_ofd(pki, template.slug)  # the same content as the PDF fixture
        size = (template.page.width_mm, template.page.height_mm)
        theirs_pdf = easyofd_pdf(sealed.data)
        # easyofd draws the seal picture from SignedValue.dat at the StampAnnot box.
        assert _red_share(theirs_pdf, sealed.unsigned.seal_page, sealed.unsigned.seal_box, size) > 0.05, template.slug
        if index == 0:  # the unsealed file has an empty seal box: the check above can fail
            assert _red_share(easyofd_pdf(sealed.unsigned.data), sealed.unsigned.seal_page, sealed.unsigned.seal_box, size) < 0.01
        theirs = _chars(theirs_pdf, *size)
        ours = _chars(licence.electronic_pdf, *size)
        assert Counter(c for c, _, _ in theirs) == Counter(c for c, _, _ in ours), template.slug
        for ch, x, y in theirs:
            near = [(x2, y2) for c2, x2, y2 in ours if c2 == ch and abs(x2 - x) < TOLERANCE_MM and abs(y2 - y) < TOLERANCE_MM]
            assert near, f"{template.slug}: {ch!r} at ({x:.1f}, {y:.1f}) mm is not where the PDF draws it"
