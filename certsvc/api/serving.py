"""How the HTTP server is told which forwarding headers to believe.

uvicorn believes ``X-Forwarded-For`` from 127.0.0.1 unless told otherwise, so any local process
(or a reverse proxy that passes the header through unchanged) could pick the client address the
rate limit counts against. Forwarding headers are believed only from ``CERTSVC_TRUSTED_PROXIES``;
with none configured they are ignored and the peer address is the client.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from certsvc.api.allocator import limit_malloc_arenas
from certsvc.api.logs import uvicorn_log_config
from certsvc.api.metrics import MULTIPROCESS_ENV
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


def _log_options(settings: Settings) -> dict[str, Any]:
    config = uvicorn_log_config(settings)
    return {} if config is None else {"log_config": config}


def _share_metrics_between_workers(ctx: ServiceContext) -> None:
    """Give the workers a fresh directory for prometheus-client's multiprocess mode.

    Set in this (parent) process's environment before uvicorn spawns the workers, which import
    prometheus-client afresh and so write their values there; ``/metrics`` sums them. The files
    of an earlier run are removed: their counts belong to processes that are gone.
    """
    directory = ctx.settings.resolved_home / "run" / "prometheus"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ[MULTIPROCESS_ENV] = str(directory)


def serve(ctx: ServiceContext, *, host: str, port: int, workers: int = 1) -> None:
    """Serve the app with uvicorn until interrupted (``certsvc serve``).

    ``ctx`` was built (settings checked, schema migrated) before any worker starts. With
    several workers each process builds its own app from the same ``CERTSVC_*`` environment.
    """
    import uvicorn

    from certsvc.api.app import create_app

    require_seal_keys_at_start(ctx)
    limit_malloc_arenas()  # before the thread pool's threads make arenas of their own
    options = {**server_options(ctx.settings), **_log_options(ctx.settings)}
    if workers == 1:
        uvicorn.run(create_app(ctx), host=host, port=port, log_level="info", **options)
        return
    ctx.database.dispose()
    _share_metrics_between_workers(ctx)
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
