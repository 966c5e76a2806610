"""``/docs`` (Swagger UI) and ``/redoc`` served with their scripts from the installed package.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, which a government office network
without internet access cannot reach (the pages stay blank). The ``fastapi-offline`` package
ships the same bundles; they are mounted under ``/docs-assets`` and nothing on these pages
fetches anything from another host (``tests/interop/test_api_docs_offline.py`` checks this
in Chromium with every other host blocked).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from certsvc.api.deps import public

__all__ = ["ASSETS_URL", "install_api_docs"]

ASSETS_URL = "/docs-assets"
# The pages may load nothing from another host: a bundle's own outside links (ReDoc's Redocly
# logo) are refused by the browser itself rather than left to time out on a closed network.
_SAME_ORIGIN_ONLY = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'; font-src 'self' data:"
}
_SWAGGER_PARAMETERS = {
    "persistAuthorization": True,  # the API key typed into Authorize survives a reload
    "displayRequestDuration": True,
    "tryItOutEnabled": True,
}


def _assets_dir() -> Path:
    return Path(str(files("fastapi_offline") / "static"))


def _same_origin_only(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(_SAME_ORIGIN_ONLY)
    return page


def install_api_docs(app: FastAPI) -> None:
    """Add ``/docs``, ``/redoc`` and their assets; build the app with ``docs_url=None, redoc_url=None``."""
    app.mount(ASSETS_URL, StaticFiles(directory=_assets_dir()), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    oauth2_redirect_url = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False, dependencies=[Depends(public)])
    def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _same_origin_only(
            get_swagger_ui_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} · API",
                oauth2_redirect_url=f"{root}{oauth2_redirect_url}",
                swagger_js_url=f"{root}{ASSETS_URL}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{ASSETS_URL}/swagger-ui.css",
                swagger_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                swagger_ui_parameters=_SWAGGER_PARAMETERS,
            )
        )

    @app.get(oauth2_redirect_url, include_in_schema=False, dependencies=[Depends(public)])
    def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False, dependencies=[Depends(public)])
    def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _same_origin_only(
            get_redoc_html(
                openapi_url=f"{root}{openapi_url}",
                title=f"{app.title} · API",
                redoc_js_url=f"{root}{ASSETS_URL}/redoc.standalone.js",
                redoc_favicon_url=f"{root}{ASSETS_URL}/favicon.png",
                with_google_fonts=False,  # fonts.googleapis.com is a CDN too
            )
        )
