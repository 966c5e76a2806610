"""The page a browser gets when the public rate limit refuses it: Chinese HTML, not JSON.

A clerk's phone asks for ``text/html``; a program asks for JSON (or anything else) and keeps the
``application/problem+json`` answer with code ``rate_limited``. Both carry ``Retry-After``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

__all__ = ["rate_limited_page", "wants_html"]

_templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def wants_html(request: Request) -> bool:
    """A browser navigating to a page: it lists text/html in Accept, and the path is no API path."""
    accept = request.headers.get("accept", "").lower()
    return "text/html" in accept and not request.url.path.startswith("/api/")


def rate_limited_page(request: Request, headers: Mapping[str, str] | None) -> HTMLResponse:
    retry_after = (headers or {}).get("Retry-After", "60")
    return _templates.TemplateResponse(
        request,
        "rate_limited.html",
        {"retry_after": retry_after},
        status_code=429,
        headers={**dict(headers or {}), "Cache-Control": "no-store"},
    )
