"""Prometheus metrics: what certsvc counts and measures, in one place.

Services and the API record into these; ``/metrics`` exposes them (``api/metrics.py``). With
``certsvc serve --workers N`` every worker is its own process with its own counters: the
serving command then points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers
start, each worker writes its values there, and a scrape answered by any worker sums them all
(prometheus-client's multiprocess mode). The variable is read when prometheus-client is first
imported, which is why it is set by the parent and never changed inside a worker.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = [
    "BATCH_ITEMS",
    "ERRORS",
    "ISSUES",
    "REQUEST_SECONDS",
    "SEALS",
    "SEAL_SECONDS",
    "VERIFICATIONS",
]

ISSUES = Counter(
    "certsvc_licences_issued",
    "Licences issued (idempotent replays not counted)",
    ["template"],
)
SEALS = Counter(
    "certsvc_seals_applied",
    "Seals applied to a licence version (issue, amend, reissue, batch re-sign), by seal algorithm",
    ["algorithm"],
)
SEAL_SECONDS = Histogram(
    "certsvc_seal_seconds",
    "Time to produce and seal one licence version (render, sign, time-stamp, store), by seal algorithm",
    ["algorithm"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
VERIFICATIONS = Counter(
    "certsvc_verifications",
    "Files and QR codes checked, by what was checked and the verdict",
    ["kind", "verdict"],
)
BATCH_ITEMS = Counter(
    "certsvc_batch_items",
    "Batch job items finished, by outcome (done, skipped, failed)",
    ["outcome"],
)
REQUEST_SECONDS = Histogram(
    "certsvc_http_request_seconds",
    "HTTP request latency by route template (never the raw path: identifiers would explode the series)",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
ERRORS = Counter(
    "certsvc_http_errors",
    "Problem answers by HTTP status and stable problem code",
    ["status", "code"],
)
