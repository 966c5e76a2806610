"""A PDF page as a PNG image (template previews), drawn by poppler's ``pdftoppm``.

reportlab writes PDFs but cannot draw one; poppler-utils is already a Debian dependency of
certsvc (``pdfsig``, ``pdffonts``), and its renderer handles the CJK and Mongolian fonts the
licences embed.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from certsvc.errors import RenderingError

__all__ = ["first_page_png"]

_TIMEOUT_SECONDS = 60


def first_page_png(pdf: bytes, *, dpi: int = 72) -> bytes:
    """The first page of ``pdf`` drawn at ``dpi`` as PNG bytes.

    Raises:
        RenderingError: ``pdftoppm`` is missing (install poppler-utils) or cannot draw the file.
    """
    tool = shutil.which("pdftoppm")
    if tool is None:
        raise RenderingError(
            "pdftoppm is not installed (Debian package poppler-utils)", code="rasterizer_missing"
        )
    with tempfile.TemporaryDirectory(prefix="certsvc-preview-") as tmp:
        source, target = Path(tmp) / "page.pdf", Path(tmp) / "page"
        source.write_bytes(pdf)
        try:
            subprocess.run(
                [
                    tool,
                    "-png",
                    "-r",
                    str(dpi),
                    "-f",
                    "1",
                    "-l",
                    "1",
                    "-singlefile",
                    str(source),
                    str(target),
                ],
                check=True,
                capture_output=True,
                timeout=_TIMEOUT_SECONDS,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            raise RenderingError(
                "the preview page could not be drawn", code="preview_failed"
            ) from exc
        return (Path(tmp) / "page.png").read_bytes()
