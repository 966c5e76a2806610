"""What machine a benchmark ran on, printed beside its figures."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable

__all__ = ["load_figures", "machine", "median_ms", "timed"]


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
