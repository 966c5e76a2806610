"""``GET /metrics`` in the Prometheus text format, and the request latency measured for it.

What is counted is defined in ``certsvc/metrics.py``. Latency is labelled with the route's path
template (``/api/v1/certificates/{identifier}``), never the raw path, so licence identifiers do
not become label values. The batch backlog is read from the database at scrape time: the item
rows are the truth every process and machine shares, so any process answers it correctly.
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import Depends, FastAPI, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from certsvc.api.deps import public
from certsvc.metrics import REQUEST_SECONDS
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext

__all__ = ["MULTIPROCESS_ENV", "install_metrics"]

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


class _BatchBacklog(Collector):
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "certsvc_batch_open_items",
            "Items of unfinished batch jobs, by job kind and item state (read from the database)",
            labels=["kind", "state"],
        )
        for (kind, state), count in sorted(BatchService(self.ctx).open_items().items()):
            family.add_metric([kind, state], count)
        yield family


def _route_template(request: Request) -> str:
    route = request.scope.get("route")
    path = getattr(route, "path_format", None) or getattr(route, "path", None)
    return str(path) if path else "unmatched"


def install_metrics(app: FastAPI, ctx: ServiceContext) -> None:
    """Measure every request and serve ``/metrics`` (one process, or all workers' summed)."""

    @app.middleware("http")
    async def _measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        REQUEST_SECONDS.labels(
            method=request.method, route=_route_template(request), status=str(response.status_code)
        ).observe(time.perf_counter() - started)
        return response

    backlog = _BatchBacklog(ctx)

    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(public)])
    def metrics() -> Response:
        """Prometheus metrics (restrict this path at the reverse proxy: see docs/operations.md)."""
        registry = CollectorRegistry()
        if os.environ.get(MULTIPROCESS_ENV):
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # every worker's files, summed
        else:
            registry = _single_process(registry)
        registry.register(backlog)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _single_process(registry: CollectorRegistry) -> CollectorRegistry:
    # The default registry holds this process's metrics (and the process and GC collectors);
    # the backlog is added per scrape to a registry that reads through to it.
    class _Default(Collector):
        def collect(self) -> Iterator[object]:  # type: ignore[override]
            yield from REGISTRY.collect()

    registry.register(_Default())
    return registry
