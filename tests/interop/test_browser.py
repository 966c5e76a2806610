"""The public page in a real headless Chromium (Debian's), driven by Playwright.

No browser download: Playwright only drives the system's /usr/bin/chromium.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from certsvc.services.context import ServiceContext
from certsvc.services.qr import parse_qr_text
from certsvc.storage.orm import Certificate
from tests.api.test_qr import scanned  # noqa: F401  (module fixture reused)

pytestmark = [pytest.mark.slow, pytest.mark.interop]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
OUT = Path("test-output")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's chromium is missing at {CHROMIUM}: `make system-deps` installs it")
    with playwright_api.sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield instance
        instance.close()


def test_valid_and_revoked_licence_pages_and_pdf_upload(
    browser: Any, server_url: str, scanned: dict[str, Any], embedded: ServiceContext, tmp_path: Path  # noqa: F811
) -> None:
    OUT.mkdir(exist_ok=True)
    identifier, payload = parse_qr_text(scanned["text"])
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)  # a phone
    try:
        page.goto(f"{server_url}/V/{identifier}/{payload}")
        assert page.locator("#verdict").inner_text().startswith("有效")
        assert "*" in page.locator("#holder").inner_text()
        page.screenshot(path=str(OUT / "public-page-valid.png"), full_page=True)

        pdf = tmp_path / "licence.pdf"
        pdf.write_bytes(scanned["pdf"])
        page.set_input_files("#pdf-file", str(pdf))
        page.click("#pdf-submit")
        page.wait_for_selector("#reasons")
        assert page.locator("#verdict").inner_text().startswith("有效")
        assert "licence_valid" in page.locator("#reasons").inner_html()
        page.screenshot(path=str(OUT / "public-page-upload.png"), full_page=True)

        with embedded.database.transaction() as session:
            session.query(Certificate).filter_by(identifier=scanned["identifier"]).one().status = "revoked"
        try:
            page.goto(f"{server_url}/v/{identifier}")
            assert page.locator("#verdict").inner_text().startswith("已撤销")
            page.screenshot(path=str(OUT / "public-page-revoked.png"), full_page=True)
        finally:
            with embedded.database.transaction() as session:
                session.query(Certificate).filter_by(identifier=scanned["identifier"]).one().status = "valid"
    finally:
        page.close()
