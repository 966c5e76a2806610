"""/docs and /redoc render in a real Chromium with every host but the service blocked.

A government office network often has no internet: the pages must not need a CDN.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.interop.test_browser import browser  # noqa: F401  (module fixture reused)

pytestmark = [pytest.mark.slow, pytest.mark.interop]


@pytest.fixture()
def offline_page(browser: Any, server_url: str) -> Iterator[tuple[Any, list[str]]]:  # noqa: F811
    """A page whose requests to any other host than the service are cut off (and recorded)."""
    service_host = urlsplit(server_url).netloc
    blocked: list[str] = []
    context = browser.new_context()

    def only_the_service(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == service_host or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            blocked.append(url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_service)
    page = context.new_page()
    try:
        yield page, blocked
    finally:
        context.close()


def test_swagger_ui_renders_offline_with_an_authorize_button(offline_page: tuple[Any, list[str]], server_url: str) -> None:
    page, blocked = offline_page
    page.goto(f"{server_url}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
    assert "certsvc" in page.locator(".swagger-ui .info .title").inner_text()
    # The bearer security scheme gives the Authorize button; the operations are listed.
    page.wait_for_selector("button.authorize", timeout=10_000)
    assert page.locator(".opblock-summary-path[data-path='/api/v1/certificates']").count() >= 1
    assert blocked == []


def test_redoc_renders_offline(offline_page: tuple[Any, list[str]], server_url: str) -> None:
    page, blocked = offline_page
    page.goto(f"{server_url}/redoc")
    page.wait_for_selector("h1", timeout=30_000)
    assert "certsvc" in page.locator("h1").first.inner_text()
    # An operation's heading in the content: ReDoc parsed and laid out the whole document.
    page.locator("h2", has_text="Issue Certificate").first.wait_for(timeout=10_000)
    assert blocked == []


def test_fastapis_cdn_pages_are_not_served(server_url: str) -> None:
    import httpx

    html = httpx.get(f"{server_url}/docs").text + httpx.get(f"{server_url}/redoc").text
    assert "cdn.jsdelivr.net" not in html and "fonts.googleapis.com" not in html
    assert "/docs-assets/swagger-ui-bundle.js" in html and "/docs-assets/redoc.standalone.js" in html
    assert httpx.get(f"{server_url}/docs-assets/swagger-ui-bundle.js").status_code == 200


def test_template_gallery_shows_every_preview_offline(offline_page: tuple[Any, list[str]], server_url: str) -> None:
    page, blocked = offline_page
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(f"{server_url}/templates")
    images = page.locator("#gallery img")
    assert images.count() >= 5
    for index in range(images.count()):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(), timeout=60_000)
    # The page fits the phone: nothing wider than the viewport.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.click("#gallery a >> nth=0")
    page.wait_for_selector("#fields")
    assert page.locator("#fields tr").count() > 2
    assert blocked == []
