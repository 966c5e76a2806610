"""The text of the QR code printed on a licence: from its PDF, or a PNG/JPEG photo of it.

A PDF page is rasterised by poppler's ``pdftoppm`` (poppler-utils, installed by ``make
install``) and the image read by the same decoder as uploaded photos.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from certsvc.errors import ConfigurationError, DocumentTooLargeError, InvalidDocumentError
from certsvc.services.qr import decode_qr_image

__all__ = ["read_licence_qr"]

_DPI = "200"  # modules of the printed code are ~1 mm: 200 dpi gives every module several pixels
_MAX_PAGES = 4  # the code sits on the first page; a few more cover attachments placed before it


def read_licence_qr(data: bytes, *, max_bytes: int) -> str:
    """The scanned text of the licence QR code in a PDF, PNG or JPEG.

    Raises:
        DocumentTooLargeError: larger than ``max_bytes``.
        InvalidDocumentError: not a PDF/PNG/JPEG, or no QR code could be read.
        ConfigurationError: pdftoppm is not installed.
    """
    if len(data) > max_bytes:
        raise DocumentTooLargeError(
            f"the file is larger than {max_bytes} bytes", details={"limit": max_bytes}
        )
    if not data.startswith(b"%PDF-"):
        return decode_qr_image(data, max_bytes=max_bytes)
    tool = shutil.which("pdftoppm")
    if tool is None:
        raise ConfigurationError(
            "pdftoppm is missing: install poppler-utils (make install does)",
            code="pdftoppm_missing",
        )
    with tempfile.TemporaryDirectory(prefix="certsvc-qr-") as work:
        source = Path(work) / "in.pdf"
        source.write_bytes(data)
        for page in range(1, _MAX_PAGES + 1):
            target = Path(work) / f"page{page}"
            done = subprocess.run(
                [
                    tool,
                    "-png",
                    "-r",
                    _DPI,
                    "-f",
                    str(page),
                    "-l",
                    str(page),
                    "-singlefile",
                    str(source),
                    str(target),
                ],
                capture_output=True,
                check=False,
                timeout=120,
            )
            png = target.with_suffix(".png")
            if done.returncode != 0 or not png.exists():
                if page == 1:
                    raise InvalidDocumentError("the PDF cannot be read")
                break  # past the last page
            try:
                return decode_qr_image(png.read_bytes(), max_bytes=1 << 30)
            except InvalidDocumentError as exc:
                if exc.code != "no_qr_code":
                    raise
                continue
    raise InvalidDocumentError("no QR code could be read in the PDF", code="no_qr_code")
