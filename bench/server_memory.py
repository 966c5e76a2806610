"""Memory of one `certsvc serve` under bursts of concurrent issues.

A real server (its own temporary home, ``certsvc init``, SQLite) gets ten bursts of 32
concurrent ``POST /api/v1/certificates``; after each burst, once the server is idle, the
resident memory of the server and its children (``VmRSS`` of ``/proc/PID/status``) is sampled.
Goal: a steady state of at most 400 MB and no growth from burst to burst.

    .venv/bin/python bench/server_memory.py [BURSTS] [CONCURRENCY] [ENV=VALUE ...]

``ENV=VALUE`` arguments are set in the server's environment (e.g. ``MALLOC_ARENA_MAX=8`` to
see what the allocator's setting does).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx

from bench._machine import machine
from tools.local_cluster import LocalCluster

FOOD = "food-business-licence"


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and every process below it, MB."""
    return sum(_rss_kib(p) for p in _descendants(pid)) / 1024


def _request(serial: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "templates" / FOOD / "sample.json").read_text(encoding="utf-8"))
    data["fields"]["licence_number"] = f"JY2{serial:013d}"
    return data


async def _burst(url: str, headers: dict[str, str], first: int, concurrency: int) -> int:
    """``concurrency`` issues at once; the number that failed."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=300, limits=limits) as client:
        answers = await asyncio.gather(
            *(client.post(url + "/api/v1/certificates", json=_request(first + i), headers=headers) for i in range(concurrency)),
            return_exceptions=True,
        )
    return sum(1 for a in answers if isinstance(a, BaseException) or a.status_code != 201)


def main() -> None:
    args = sys.argv[1:]
    numbers = [a for a in args if "=" not in a]
    bursts = int(numbers[0]) if numbers else 10
    concurrency = int(numbers[1]) if len(numbers) > 1 else 32
    extra = dict(a.split("=", 1) for a in args if "=" in a)
    print(f"machine: {machine()}")
    print(f"{bursts} bursts of {concurrency} concurrent issues, one `certsvc serve`, SQLite; server env: {extra or 'default'}\n")
    with LocalCluster(api_processes=1, workers=0, job_engine="local", database="sqlite", extra_env=extra) as cluster:
        pid = cluster.processes[0][1].pid
        url = cluster.api_urls[0]
        key = cluster.credentials["departments"][0]["api_key"]
        headers = {"Authorization": f"Bearer {key}"}
        started = tree_rss_mb(pid)
        httpx.post(url + "/api/v1/certificates", json=_request(0), headers=headers, timeout=300).raise_for_status()
        after_one = tree_rss_mb(pid)
        print(f"RSS after start: {started:.0f} MB; after one issue: {after_one:.0f} MB\n")
        print("| burst | seconds | failed | RSS MB |")
        print("|---|---|---|---|")
        samples = []
        for burst in range(bursts):
            start = time.perf_counter()
            failed = asyncio.run(_burst(url, headers, 1 + burst * concurrency, concurrency))
            seconds = time.perf_counter() - start
            time.sleep(1.0)  # let the server go idle: what it keeps, not what it is using
            samples.append(tree_rss_mb(pid))
            print(f"| {burst + 1} | {seconds:.1f} | {failed} | {samples[-1]:.0f} |")
        processes = len(_descendants(pid))
    growth = samples[-1] - samples[len(samples) // 2 - 1] if len(samples) >= 2 else 0.0
    print(f"\nsteady state (last burst): {samples[-1]:.0f} MB, peak {max(samples):.0f} MB; "
          f"growth over the second half: {growth:+.0f} MB; processes in the tree: {processes}")  # fmt: skip
    if os.environ.get("BENCH_ASSERT"):
        assert samples[-1] <= 400 and growth <= 20, samples


if __name__ == "__main__":
    main()
