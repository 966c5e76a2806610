"""Visual regression: every shipped sample, rendered to PNG, against committed references.

A layout change that moves, drops or overflows anything shows up as a pixel difference far
above the tolerance; anti-aliasing differences between poppler versions stay well below it.
After an intended change, regenerate with ``CERTSVC_UPDATE_REFERENCE=1 pytest tests/rendering``
and look at the new images (they are shown in docs/templates.md) before committing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageStat

from certsvc.rendering.renderer import LicenceContent, RenderedLicence

REFERENCE_DIR = Path(__file__).parent / "reference"
DPI = 50
# Mean absolute difference per channel, 0–255, over the whole page. Measured: the same input
# gives 0.0; one field moved down by 2 mm gives ~0.38 on A4; a different company name ~0.02
# (the samples are fixed, so content changes do not occur here). 0.15 leaves room for
# anti-aliasing differences between poppler/FreeType versions.
TOLERANCE = 0.15

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed"),
    pytest.mark.db_independent,
]


def _pages(pdf: bytes, folder: Path) -> list[Image.Image]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "doc.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(DPI), "-png", str(path), str(folder / "p")], check=True)
    return [Image.open(p).convert("RGB") for p in sorted(folder.glob("p*.png"))]


def test_samples_match_reference_images(
    rendered: dict[str, tuple[LicenceContent, RenderedLicence]], tmp_path: Path
) -> None:
    update = os.environ.get("CERTSVC_UPDATE_REFERENCE") == "1"
    failures = []
    for slug, (_, result) in sorted(rendered.items()):
        pages = _pages(result.print_pdf, tmp_path / slug)
        for number, page in enumerate(pages, start=1):
            reference_path = REFERENCE_DIR / f"{slug}-{number}.png"
            if update:
                REFERENCE_DIR.mkdir(exist_ok=True)
                page.save(reference_path, optimize=True)
                continue
            if not reference_path.exists():
                failures.append(f"{reference_path.name}: no reference image")
                continue
            reference = Image.open(reference_path).convert("RGB")
            if reference.size != page.size:
                failures.append(f"{reference_path.name}: size {page.size} != {reference.size}")
                continue
            diff = sum(ImageStat.Stat(ImageChops.difference(page, reference)).mean) / 3
            if diff > TOLERANCE:
                page.save(tmp_path / f"{slug}-{number}.actual.png")
                failures.append(f"{reference_path.name}: mean difference {diff:.2f} > {TOLERANCE}")
        extra = REFERENCE_DIR / f"{slug}-{len(pages) + 1}.png"
        if not update and extra.exists():
            failures.append(f"{extra.name}: reference has more pages than the rendering")
    assert not failures, "; ".join(failures)
