"""The FastAPI application factory."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request, Response

from certsvc import __version__
from certsvc.api.deps import public
from certsvc.api.errors import install_error_handlers
from certsvc.api.routes import ROUTERS
from certsvc.services.context import ServiceContext
from certsvc.services.webhooks import WebhookService

__all__ = ["create_app"]


def create_app(ctx: ServiceContext) -> FastAPI:
    """Build the app around a ready service context (settings checked, templates loaded)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # Webhook events recorded before a crash or restart are still pending: send them now,
        # in the background, so start-up does not wait for slow receivers.
        threading.Thread(target=WebhookService(ctx).deliver_pending, name="certsvc-webhooks-pending", daemon=True).start()
        yield

    app = FastAPI(
        title="certsvc",
        version=__version__,
        summary="电子证照签发与电子印章服务 · electronic licence issuance and electronic seals",
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    install_error_handlers(app)

    @app.middleware("http")
    async def _request_id(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        incoming = request.headers.get("x-request-id", "")
        rid = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
        request.state.request_id = rid
        response = await call_next(request)
        response.headers["X-Request-ID"] = rid
        return response

    @app.get("/healthz", tags=["operations"], dependencies=[Depends(public)])
    def healthz() -> dict[str, str]:
        with ctx.database.read() as session:
            session.connection().exec_driver_sql("SELECT 1")
        return {"status": "ok", "version": __version__}

    for router in ROUTERS:
        app.include_router(router)
    logging.getLogger("certsvc").setLevel(logging.INFO)
    return app
