"""What machine a benchmark ran on, printed beside its figures."""

from __future__ import annotations

import asyncio
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

__all__ = ["load_figures", "machine", "median_ms", "run_load", "timed"]

# One request of a load run: (method, path, httpx keyword arguments) for request number i.
Request = tuple[str, str, dict[str, Any]]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"{cpu}, nproc={os.cpu_count()}, {platform.platform()}, Python {platform.python_version()}"


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def load_figures(latencies: list[float], *, count: int, wall: float, errors: int) -> dict[str, float]:
    """Throughput, median and 99th-percentile latency (ms) and errors of a load run."""
    ordered = sorted(latencies)
    return {
        "per_s": count / wall,
        "p50_ms": statistics.median(ordered) * 1000,
        "p99_ms": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        "errors": errors,
    }


def run_load(
    urls: list[str],
    count: int,
    make: Callable[[int], Request],
    *,
    concurrency: int,
    is_ok: Callable[[Any], bool] | None = None,
) -> dict[str, float]:
    """``count`` requests at ``concurrency``, round-robin over ``urls``; ``load_figures`` of them.

    A request is an error when it fails, answers 4xx/5xx, or ``is_ok`` (given the response)
    says so.
    """
    import httpx

    async def run() -> dict[str, float]:
        latencies: list[float] = []
        errors = 0
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:

            async def worker() -> None:
                nonlocal errors
                while not queue.empty():
                    i = queue.get_nowait()
                    method, path, kwargs = make(i)
                    start = time.perf_counter()
                    try:
                        answer = await client.request(method, urls[i % len(urls)] + path, **kwargs)
                        if answer.status_code >= 400 or (is_ok is not None and not is_ok(answer)):
                            errors += 1
                    except httpx.HTTPError:
                        errors += 1
                    latencies.append(time.perf_counter() - start)

            start = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            wall = time.perf_counter() - start
        return load_figures(latencies, count=count, wall=wall, errors=errors)

    return asyncio.run(run())
