"""The public page in a real headless Chromium (Debian's), driven by Playwright.

No browser download: Playwright only drives the system's /usr/bin/chromium.
"""

from __future__ import annotations

import os
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


# --- phone-first layout and visual regression ------------------------------------------------
REFERENCE_DIR = Path(__file__).parent / "reference"
# Mean absolute difference per channel (0-255) over the screenshot. The same page renders
# identically on one machine (0.0); a block moved by a line or a colour changed gives several
# units; 1.5 leaves room for font hinting differences between Chromium builds.
TOLERANCE = 1.5
WIDTHS = (360, 1280)


def _fits(page: Any, width: int) -> None:
    """Nothing scrolls sideways: the document is no wider than the viewport, nor any element."""
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"page is {scroll_width} px wide at a {width} px viewport"
    widest = page.evaluate(
        "Math.max(...Array.from(document.querySelectorAll('body *')).map(e => e.getBoundingClientRect().right))"
    )
    assert widest <= width + 0.5, f"an element reaches {widest} px at a {width} px viewport"


def _compare(page: Any, name: str, masks: list[str]) -> None:
    from PIL import Image, ImageChops, ImageStat

    OUT.mkdir(exist_ok=True)
    shot = OUT / f"{name}.png"
    # Fields that differ per run (identifier, dates, holder) are painted over: the layout is compared.
    page.screenshot(path=str(shot), full_page=True, mask=[page.locator(m) for m in masks], animations="disabled")
    reference = REFERENCE_DIR / f"{name}.png"
    if os.environ.get("CERTSVC_UPDATE_REFERENCE") == "1" or not reference.exists():
        REFERENCE_DIR.mkdir(exist_ok=True)
        shutil.copy(shot, reference)
        if os.environ.get("CERTSVC_UPDATE_REFERENCE") != "1":
            pytest.fail(f"no reference image {reference}: one was written, look at it and commit it")
        return
    got, want = Image.open(shot).convert("RGB"), Image.open(reference).convert("RGB")
    assert got.size == want.size, f"{name}: {got.size} differs from the reference {want.size} (see {shot})"
    difference = sum(ImageStat.Stat(ImageChops.difference(got, want)).mean) / 3
    assert difference <= TOLERANCE, f"{name}: mean difference {difference:.2f} > {TOLERANCE} (see {shot})"


_MASKS = ["#identifier", "#validity", "#holder", "#changed-on", "#current-identifier"]


def test_pages_fit_360_px_and_match_their_reference_images(
    browser: Any, server_url: str, client: Any, ecdsa_key: str
) -> None:
    from tests.conftest import auth, sample_request

    issued = client.post("/api/v1/certificates", json=sample_request(), headers=auth(ecdsa_key)).json()
    revoked = client.post("/api/v1/certificates", json=sample_request(), headers=auth(ecdsa_key)).json()
    answer = client.post(
        f"/api/v1/certificates/{revoked['identifier']}/revoke",
        json={"reason": "锡市监罚〔2026〕17号", "category": "violation"}, headers=auth(ecdsa_key),
    )
    assert answer.status_code == 200, answer.text
    pages = {
        "valid": f"/v/{issued['identifier']}",
        "revoked": f"/v/{revoked['identifier']}",
        # A long identifier that does not exist: it must wrap, and the page warns of forgery.
        "not-found": "/v/1.2.156.3005.2.11100000MB0143028R001.11152502011513952P.2026999999.001.X",
    }
    expected = {"valid": "有效", "revoked": "已撤销", "not-found": "未找到"}
    for width in WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": 800}, device_scale_factor=1)
        try:
            for name, path in pages.items():
                page.goto(server_url + path)
                assert page.locator("#verdict").inner_text().startswith(expected[name])
                _fits(page, width)
                _compare(page, f"public-{name}-{width}", _MASKS)
            # Colours tell the states apart at a glance.
            colours = set()
            for name in pages:
                page.goto(server_url + pages[name])
                colours.add(page.evaluate("getComputedStyle(document.getElementById('verdict')).backgroundColor"))
            assert len(colours) == 3
        finally:
            page.close()


def test_result_error_and_rate_limited_pages_fit_360_px(
    browser: Any, server_url: str, client: Any, ecdsa_key: str, embedded: ServiceContext, tmp_path: Path
) -> None:
    from dataclasses import replace

    from fastapi.testclient import TestClient

    from certsvc.api.app import create_app
    from tests.conftest import auth, sample_request

    issued = client.post("/api/v1/certificates", json=sample_request(), headers=auth(ecdsa_key)).json()
    pdf = tmp_path / "licence.pdf"
    pdf.write_bytes(client.get(issued["links"]["pdf"], headers=auth(ecdsa_key)).content)
    junk = tmp_path / "photo.png"
    junk.write_bytes(b"not a photo")
    limited = replace(embedded, settings=embedded.settings.model_copy(update={"public_rate_limit_per_minute": 1}))
    with TestClient(create_app(limited)) as limited_client:
        html = {"accept": "text/html"}
        limited_client.get("/v/x", headers=html)
        busy = limited_client.get("/v/x", headers=html)
    assert busy.status_code == 429
    page = browser.new_page(viewport={"width": 360, "height": 800})
    try:
        page.goto(f"{server_url}/v/{issued['identifier']}")
        page.set_input_files("#pdf-file", str(pdf))
        page.click("#pdf-submit")
        page.wait_for_selector("#reasons")
        assert page.locator("#verdict").inner_text().startswith("有效")
        _fits(page, 360)  # the verification report, long identifier included

        page.goto(f"{server_url}/v/{issued['identifier']}")
        page.set_input_files("#qr-file", str(junk))
        page.click("#qr-submit")
        page.wait_for_selector("#error")
        _fits(page, 360)

        page.set_content(busy.text)
        assert page.locator("#verdict").inner_text().startswith("请稍后再试")
        _fits(page, 360)
    finally:
        page.close()
