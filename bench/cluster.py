"""Cluster benchmark, every figure beside a baseline measured in the same run:

1. Issue and verify over HTTP at concurrency 32 against one API process and against two (the
   same cluster, requests spread round-robin), on PostgreSQL: throughput, p50, p99, errors.
2. Batch re-sign of N licences: the local engine (one worker process) against Celery with one
   and with two `certsvc worker`s (concurrency 1 each): steady rate from the item rows (first
   claim → last outcome), so process start-up is excluded.
3. Single-process issuance on SQLite and on PostgreSQL (in this process, one at a time).

    .venv/bin/python bench/cluster.py                       # defaults: 240 requests, N = 300
    .venv/bin/python bench/cluster.py --requests 400 --resign 1000 --rounds 3

The machine is shared and noisy: each figure is a median of ``--rounds`` runs, and the ratios
are taken between runs made back to back.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx

from bench._machine import machine, run_load
from tools.local_cluster import CERTSVC, LocalCluster

FOOD = "food-business-licence"
CONCURRENCY = 32


def _sample(i: int, run: int) -> dict[str, Any]:
    """The template's sample with a number of its own (the registry refuses a number twice):
    ``run`` (0–999) and ``i`` make the 13 digits after ``JY2``."""
    data: dict[str, Any] = json.loads((ROOT / "templates" / FOOD / "sample.json").read_text(encoding="utf-8"))
    data["fields"]["licence_number"] = f"JY2{run:03d}{i:010d}"
    return data


def http_part(requests: int, rounds: int) -> None:
    print(f"\n## 1. HTTP at concurrency {CONCURRENCY}, PostgreSQL, {requests} requests per run, median of {rounds}")
    with LocalCluster(api_processes=2, workers=0, job_engine="local") as cluster:
        key = cluster.credentials["departments"][0]["api_key"]
        headers = {"Authorization": f"Bearer {key}"}
        first = httpx.post(cluster.api_urls[0] + "/api/v1/certificates", json=_sample(0, 999), headers=headers, timeout=120)
        first.raise_for_status()
        pdf = httpx.get(f"{cluster.api_urls[0]}/api/v1/certificates/{first.json()['identifier']}/pdf", headers=headers, timeout=60).content
        results: dict[tuple[str, int], list[dict[str, float]]] = {}
        for r in range(rounds):
            for processes in (1, 2):
                urls = cluster.api_urls[:processes]
                run = 10 * r + processes
                issue = run_load(urls, requests, concurrency=CONCURRENCY, make=lambda i, run=run: (
                    "POST", "/api/v1/certificates", {"json": _sample(i, run), "headers": headers}))
                verify = run_load(urls, requests, concurrency=CONCURRENCY, make=lambda i: (
                    "POST", "/api/v1/verify", {"content": pdf, "headers": {"content-type": "application/pdf"}}))
                results.setdefault(("issue", processes), []).append(issue)
                results.setdefault(("verify", processes), []).append(verify)
        print("| operation | API processes | per second | p50 ms | p99 ms | errors |")
        print("|---|---|---|---|---|---|")
        medians = {}
        for (operation, processes), runs in sorted(results.items()):
            m = {k: statistics.median(run[k] for run in runs) for k in runs[0]}
            medians[(operation, processes)] = m
            errors = sum(int(run["errors"]) for run in runs)
            print(f"| {operation} | {processes} | {m['per_s']:.1f} | {m['p50_ms']:.0f} | {m['p99_ms']:.0f} | {errors} |")
        for operation in ("issue", "verify"):
            ratio = medians[(operation, 2)]["per_s"] / medians[(operation, 1)]["per_s"]
            print(f"{operation}: two processes / one = {ratio:.2f}")


def _records(path: Path, n: int) -> None:
    rows = list(csv.reader((ROOT / "templates" / FOOD / "sample.csv").open(encoding="utf-8", newline="")))
    number = rows[0].index("许可证编号")
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(rows[0])
        for i in range(n):
            row = list(rows[1 + i % 10])
            row[0] = f"BENCH-{i:06d}"
            row[number] = f"JY1{i:013d}"
            writer.writerow(row)


def _cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    done = subprocess.run([str(CERTSVC), *args, "--json"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"certsvc {' '.join(args)} failed:\n{done.stderr}\n{done.stdout}")
    return dict(json.loads(done.stdout)["job"])


def _new_seal(env: dict[str, str]) -> int:
    """A rollover seal for the first demo department (same name and image, new key)."""
    code = (
        "from certsvc.config import load_settings\n"
        "from certsvc.crypto import api as crypto\n"
        "from certsvc.services.context import build_context\n"
        "from certsvc.services.demo_departments import DEMO_DEPARTMENTS\n"
        "from certsvc.services.provisioning import add_seal, department_by_code\n"
        "ctx = build_context(load_settings(), migrate=False)\n"
        "demo = DEMO_DEPARTMENTS[0]\n"
        "with ctx.database.transaction() as s:\n"
        "    print(add_seal(ctx, s, department=department_by_code(s, demo.code), name=demo.seal_name,"
        " algorithm=crypto.KeyAlgorithm.ECDSA_P256, actor=None).id)\n"
    )
    return int(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout)


def _steady_rate(env: dict[str, str], job_id: int) -> float:
    from sqlalchemy import create_engine, text

    engine = create_engine(env["CERTSVC_DATABASE_URL"])
    with engine.connect() as conn:
        n, first, last = conn.execute(
            text("SELECT count(*), min(claimed_at), max(finished_at) FROM batch_items WHERE job_id = :j AND state = 'done'"),
            {"j": job_id},
        ).one()
    engine.dispose()
    span = (_aware(last) - _aware(first)).total_seconds()
    return float(n) / span if span > 0 else float("nan")


def _aware(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (from /proc: no extra dependency)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    tree, frontier = [pid], [pid]
    while frontier:
        frontier = [child for child, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _peak_rss_mib(pids: list[int]) -> float:
    """The largest peak RSS (VmHWM) among ``pids`` and their descendants, MiB."""
    peak = 0
    for pid in pids:
        for member in _descendants(pid):
            try:
                status = Path(f"/proc/{member}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]))
    return peak / 1024


def _local_resign(env: dict[str, str], *args: str) -> tuple[dict[str, Any], float]:
    """``certsvc batch resign`` with the local engine, and its peak RSS (CLI or worker) in MiB."""
    wrapper = (
        "import resource, subprocess, sys;"
        "r = subprocess.run(sys.argv[1:]);"
        "sys.stderr.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)); sys.exit(r.returncode)"
    )
    done = subprocess.run([sys.executable, "-c", wrapper, str(CERTSVC), *args, "--json"], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"certsvc {' '.join(args)} failed:\n{done.stderr}\n{done.stdout}")
    return dict(json.loads(done.stdout)["job"]), int(done.stderr.strip().splitlines()[-1]) / 1024


def batch_part(n: int, rounds: int, pades_level: str | None, *, seed: int | None = None) -> None:
    level = pades_level or "the default"
    print(f"\n## 2. Batch re-sign of N = {n} on PostgreSQL, PAdES {level}, steady rate (items/s), median of {rounds}")
    extra = {"CERTSVC_PADES_LEVEL": pades_level} if pades_level else {}
    with LocalCluster(api_processes=0, workers=0, job_engine="celery", extra_env=extra) as cluster:
        code = cluster.credentials["departments"][0]["code"]
        records = cluster.base / "records.csv"
        imported_n = min(n, seed) if seed else n
        _records(records, imported_n)
        local_env = {**cluster.env, "CERTSVC_JOB_ENGINE": "local"}
        imported = _cli(local_env, "batch", "import", str(records), "--template", FOOD, "--department", code,
                        "--execute", "--workers", "2")
        assert imported["done"] == imported_n, imported
        if n > imported_n:
            from bench.batch import _clone_licences

            _clone_licences(cluster.env["CERTSVC_DATABASE_URL"], n)
            print(f"{imported_n} licences imported, {n - imported_n} copied from them (bench/batch.py --seed)")
        rates: dict[str, list[float]] = {"local, 1 worker process": [], "celery, 1 worker": [], "celery, 2 workers": []}
        peaks: dict[str, list[float]] = {label: [] for label in rates}
        workers: list[Any] = []
        for _ in range(rounds):
            for label in rates:
                seal = _new_seal(cluster.env)
                if label.startswith("local"):
                    job, peak = _local_resign(local_env, "batch", "resign", "--to-seal", str(seal), "--department", code,
                                              "--execute", "--workers", "1")
                    peaks[label].append(peak)
                else:
                    wanted = 1 if "1 worker" in label else 2
                    while len(workers) < wanted:
                        workers.append(cluster.start_worker())
                    while len(workers) > wanted:
                        worker = workers.pop()
                        worker.terminate()
                        worker.wait(timeout=60)
                    time.sleep(8)  # the workers' start-up is not what is measured
                    job = _cli(cluster.env, "batch", "resign", "--to-seal", str(seal), "--department", code, "--execute")
                    # Peak RSS since each worker started (they persist across rounds of the same count).
                    peaks[label].append(_peak_rss_mib([w.pid for w in workers]))
                assert job["done"] == n, job
                rates[label].append(_steady_rate(cluster.env, int(job["job_id"])))
            for worker in workers:
                worker.terminate()
                worker.wait(timeout=60)
            workers.clear()
        medians = {label: statistics.median(values) for label, values in rates.items()}
        print("| engine | re-signed per second | runs | peak RSS of a worker, MiB |")
        print("|---|---|---|---|")
        for label, rate in medians.items():
            print(f"| {label} | {rate:.1f} | {', '.join(f'{v:.1f}' for v in rates[label])} | {max(peaks[label]):.0f} |")
        local, one, two = medians.values()
        print(f"celery 1 worker / local = {one / local:.2f}; celery 2 workers / 1 = {two / one:.2f}")


def single_process_part(count: int) -> None:
    print(f"\n## 3. Single-process issuance, {count} licences each, median ms per licence")
    from certsvc.config import load_settings
    from certsvc.services.context import build_context
    from certsvc.services.demo_departments import DEMO_DEPARTMENTS
    from certsvc.services.embedded_init import init_embedded
    from certsvc.services.issuance import IssuanceService
    from certsvc.services.principals import Principal, Role
    from certsvc.services.provisioning import department_by_code
    from certsvc.services.requests import parse_issue_request
    from tests.servers import PostgresServer

    with PostgresServer(durable=True) as server:
        medians = {}
        for label, url in (("SQLite", None), ("PostgreSQL", server.create_database("single"))):
            home = Path(tempfile.mkdtemp(prefix="certsvc-bench-single-"))
            ctx = build_context(load_settings(home=home, database_url=url, public_url="https://certsvc.example.gov.cn"))
            init_embedded(ctx)
            demo = DEMO_DEPARTMENTS[0]
            with ctx.database.read() as session:
                department_id = department_by_code(session, demo.code).id
            issuer = Principal(client_id=0, name="bench", role=Role.ISSUER, department_id=department_id, department_code=demo.code)
            service = IssuanceService(ctx)
            service.issue(parse_issue_request(_sample(0, 900 + len(label))), principal=issuer)  # warm-up
            samples = []
            for i in range(1, count + 1):
                start = time.perf_counter()
                service.issue(parse_issue_request(_sample(i, 900 + len(label))), principal=issuer)
                samples.append(time.perf_counter() - start)
            medians[label] = statistics.median(samples) * 1000
            ctx.database.dispose()
        print("| database | ms per licence (median) |")
        print("|---|---|")
        for label, ms in medians.items():
            print(f"| {label} | {ms:.1f} |")
        print(f"PostgreSQL / SQLite = {medians['PostgreSQL'] / medians['SQLite']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=240, help="requests per HTTP run")
    parser.add_argument("--resign", type=int, default=300, help="licences re-signed per batch run (N)")
    parser.add_argument("--seed", type=int, default=None,
                        help="import only this many licences and copy their rows up to N (bench/batch.py --seed)")
    parser.add_argument("--single", type=int, default=40, help="licences per single-process run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--parts", default="1,2,3")
    parser.add_argument("--pades-level", default=None, help="CERTSVC_PADES_LEVEL of the batch part (default: the setting's)")
    args = parser.parse_args()
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f} at start")
    parts = set(args.parts.split(","))
    if "1" in parts:
        http_part(args.requests, args.rounds)
    if "2" in parts:
        batch_part(args.resign, args.rounds, args.pades_level, seed=args.seed)
    if "3" in parts:
        single_process_part(args.single)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
