"""The seal's appearance stream is valid PDF syntax, so every reader draws the seal.

A square seal image in a square box leaves a rounding residue as its offset; written with ``%g``
it became ``7.10543e-15``, which is no PDF number: poppler and MuPDF then drew no seal at all.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from PIL import Image

from certsvc.crypto.api import KeyAlgorithm, PdfSealer
from certsvc.domain.layout import SealBox
from tests.pdf_content import content_streams, syntax_problems
from tests.pki import DEPARTMENT_NAME, SIGNED_AT, pki, sample_pdf, seal_png

pytestmark = pytest.mark.db_independent

# A 291 px square scan in a 107 pt (37.7 mm) square box: one of the ~8 % of such pairs whose
# centring offset is a rounding residue rather than 0.
_IMAGE_PX = 291
BOX = SealBox(page_index=0, x1=100, y1=100, x2=207, y2=207)


def _sealed(*, show_text: bool) -> bytes:
    p = pki(KeyAlgorithm.ECDSA_P256)
    sealer = PdfSealer(
        key=p.signing_key, seal_image_png=seal_png(_IMAGE_PX),
        show_text=show_text,
    )
    return sealer.seal(sample_pdf(), box=BOX, department_name=DEPARTMENT_NAME, signed_at=SIGNED_AT, reason="电子证照签发")


def test_the_box_is_one_that_leaves_a_rounding_residue() -> None:
    # The premise: this box and image size give the offset that %g writes with an exponent.
    scale = min(BOX.width / _IMAGE_PX, BOX.height / _IMAGE_PX)
    assert b"e" in b"%g" % ((BOX.width - _IMAGE_PX * scale) / 2)


@pytest.mark.parametrize("show_text", [False, True])
def test_every_content_stream_of_a_sealed_file_is_strict_pdf_syntax(show_text: bool) -> None:
    streams = list(content_streams(_sealed(show_text=show_text)))
    assert any("annotation" in label for label, _ in streams), "no seal appearance found"
    problems = {label: syntax_problems(data) for label, data in streams}
    assert {label: p for label, p in problems.items() if p} == {}


def test_poppler_draws_the_seal(tmp_path: Path) -> None:
    pdf = tmp_path / "sealed.pdf"
    pdf.write_bytes(_sealed(show_text=False))
    subprocess.run(["pdftoppm", "-r", "72", "-png", "-singlefile", str(pdf), str(tmp_path / "page")], check=True)
    with Image.open(tmp_path / "page.png") as page:
        rgb = page.convert("RGB")
        # the seal box in pixels at 72 dpi (origin top-left)
        top = round(rgb.height - BOX.y2)
        crop = rgb.crop((round(BOX.x1), top, round(BOX.x2), top + round(BOX.height)))
        red = sum(1 for r, g, b in crop.getdata() if r > 150 and g < 110 and b < 110)
    assert red > 200, f"only {red} red pixels where the seal should be"
