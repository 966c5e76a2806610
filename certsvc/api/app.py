"""The FastAPI application factory."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI

from certsvc import __version__
from certsvc.api.deps import public
from certsvc.api.docs import install_api_docs
from certsvc.api.errors import install_error_handlers
from certsvc.api.logs import install_request_logging
from certsvc.api.metrics import install_metrics
from certsvc.api.problems import document_problems
from certsvc.api.routes import ROUTERS
from certsvc.api.routes import hub as hub_routes
from certsvc.api.web.hub_pages import hub_public_router
from certsvc.config import load_settings
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.readiness import require_ready, require_seal_keys_at_start
from certsvc.services.upstream import UpstreamConnector
from certsvc.services.webhooks import WebhookService

__all__ = ["create_app", "create_app_from_environment"]

_log = logging.getLogger("certsvc.api")


def _deliver_pending(ctx: ServiceContext) -> None:
    try:
        WebhookService(ctx).deliver_pending()
    except Exception:
        # The process serves on (``/readyz`` says what is wrong); the events stay pending
        # for the next start of this or another process.
        _log.warning("pending webhook events not sent at start-up", exc_info=True)


def create_app(ctx: ServiceContext) -> FastAPI:
    """Build the app around a ready service context (settings checked, templates loaded)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Webhook events recorded before a crash or restart are still pending: send them now,
        # in the background, so start-up does not wait for slow receivers.
        threading.Thread(
            target=_deliver_pending, args=(ctx,), name="certsvc-webhooks-pending", daemon=True
        ).start()
        # The serving process is the upstream connector's sender (docs/region.md): every API
        # process runs one; leases keep them from sending a row twice.
        stop = threading.Event()
        if ctx.settings.upstream_url is not None:
            threading.Thread(
                target=UpstreamConnector(ctx).run,
                args=(stop,),
                name="certsvc-upstream",
                daemon=True,
            ).start()
        yield
        stop.set()

    app = FastAPI(
        title="certsvc",
        version=__version__,
        summary="电子证照签发与电子印章服务 · electronic licence issuance and electronic seals",
        lifespan=lifespan,
        docs_url=None,  # install_api_docs serves them without a CDN
        redoc_url=None,
    )
    app.state.ctx = ctx
    install_error_handlers(app)

    install_request_logging(app, ctx.settings)

    @app.get("/healthz", tags=["operations"], dependencies=[Depends(public)])
    def healthz() -> dict[str, str]:
        """Alive: the process answers. Touches nothing else (see ``/readyz``)."""
        return {"status": "ok", "version": __version__}

    @app.get("/readyz", tags=["operations"], dependencies=[Depends(public)])
    def readyz() -> dict[str, object]:
        """Ready: database, broker (when configured) and seal keys reachable; 503 with the reasons."""
        return {"status": "ready", "checks": require_ready(ctx)}

    for router in ROUTERS:
        app.include_router(router)
    if ctx.settings.role == "hub":
        app.include_router(hub_routes.router)
        app.include_router(hub_public_router)
    document_problems(app)
    install_api_docs(app)
    install_metrics(app, ctx)
    logging.getLogger("certsvc").setLevel(logging.INFO)
    return app


def create_app_from_environment() -> FastAPI:
    """The app of one ``certsvc serve --workers N`` worker process: settings from ``CERTSVC_*``.

    The serving command has migrated the schema before starting its workers; each worker only
    opens the database, stores and templates for itself (nothing is shared between them but
    the database, the blob and key stores and, when configured, Redis).
    """
    ctx = build_context(load_settings(), migrate=False)
    require_seal_keys_at_start(ctx)  # each worker logs into the tokens of its own
    return create_app(ctx)
