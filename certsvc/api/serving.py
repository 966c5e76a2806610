"""How the HTTP server is told which forwarding headers to believe.

uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 unless told otherwise, so any local process
(or a reverse proxy that passes the header through unchanged) could pick the client address the
rate limit counts against. Forwarding headers are believed only from ``CERTSVC_TRUSTED_PROXIES``;
with none configured they are ignored and the peer address is the client.
"""

from __future__ import annotations

from typing import Any

from certsvc.config import Settings
from certsvc.services.context import ServiceContext
from certsvc.services.readiness import require_seal_keys_at_start

__all__ = ["serve", "server_options"]


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` about proxies."""
    proxies = settings.trusted_proxy_list
    if not proxies:
        return {"proxy_headers": False, "forwarded_allow_ips": []}
    return {"proxy_headers": True, "forwarded_allow_ips": proxies}


def serve(ctx: ServiceContext, *, host: str, port: int, workers: int = 1) -> None:
    """Serve the app with uvicorn until interrupted (``certsvc serve``).

    ``ctx`` was built (settings checked, schema migrated) before any worker starts. With
    several workers each process builds its own app from the same ``CERTSVC_*`` environment.
    """
    import uvicorn

    from certsvc.api.app import create_app

    require_seal_keys_at_start(ctx)
    options = server_options(ctx.settings)
    if workers == 1:
        uvicorn.run(create_app(ctx), host=host, port=port, log_level="info", **options)
        return
    ctx.database.dispose()
    # Loading every template takes a worker longer than uvicorn's default 5 s start-up health
    # check on a busy machine, after which it would be killed and started again, over and over.
    uvicorn.run(
        "certsvc.api.app:create_app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="info",
        timeout_worker_healthcheck=120,
        **options,
    )
