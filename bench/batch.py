"""Batch benchmark: import then re-sign N licences with 1 and with 2 worker processes.

For every (N, workers) pair a fresh embedded deployment is made, N records (the food licence
template's sample rows, each with its own record number) are imported with
``certsvc batch import --execute``, then re-signed with ``certsvc batch resign --execute`` to a
new seal of the department (a key rollover: same seal name, new key and certificate). Each
command runs in its own process, so its peak RSS (the largest of the CLI and its workers) is
measured by ``getrusage(RUSAGE_CHILDREN)`` in a small wrapper process.

Two rates are printed per run: *wall* (N / the command's whole run, including ~2 s of worker
start-up) and *steady* (N / first claim → last outcome, from the item rows). Beside them, in the
same run and on the same unsigned PDF and key, the baseline: a tuned pyHanko signature (key
object loaded once, signature size reserved up front; ``bench/issue.py``'s ``_TunedSigner``), in
one process, i.e. per core.

    .venv/bin/python bench/batch.py                 # N = 200 and 1000, workers 1 and 2
    .venv/bin/python bench/batch.py --sizes 10000   # the issue's full run (takes long)
    .venv/bin/python bench/batch.py --sizes 2000 --resign-rounds 3   # medians of 3 re-sign runs
    .venv/bin/python bench/batch.py --pades 200 --resign-rounds 3    # re-sign B-LTA vs B-B, 2 workers
    .venv/bin/python bench/batch.py --pades 100 --tsa-latency-ms 50  # outside TSA: pipelined vs not
    .venv/bin/python bench/batch.py --storage 2000 --seed 100 --resign-rounds 2   # whole files vs increments
    .venv/bin/python bench/batch.py --sizes 10000,100000 --seed 500 --workers 2  # fast set-up, RSS 10k vs 100k

``--storage N`` re-signs N licences alternately storing whole files (``CERTSVC_RESIGN_STORAGE=whole``,
the baseline) and the shared render plus the seal's increment (the default), and prints per item
the steady rate, the growth of blob store + database on disk and the bytes the kernel wrote for
the command and its workers (``ru_oublock``: blobs, database, WAL and checkpoints).
``--seed K`` imports only K licences and copies their registry rows up to N (``_clone_licences``).

``--pades N`` imports N licences once, then re-signs them alternately with
``CERTSVC_PADES_LEVEL=B-B`` and ``B-LTA`` (same home, same workers, a new seal each round) and
prints the median steady rates and their ratio. With ``--tsa-latency-ms`` the time-stamps come
from an outside TSA instead of the in-process one: this deployment's TSA behind an HTTP server
in this process that answers after that latency, and the rounds compare
``CERTSVC_BATCH_PIPELINE_DEPTH=1`` (each worker waits for each round trip) with ``4``.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._machine import machine

CERTSVC = str(Path(sys.executable).with_name("certsvc"))
FOOD = "food-business-licence"
# Runs a command and prints the peak RSS (KiB) of it and all its descendants on the last line.
_WRAPPER = (
    "import resource, subprocess, sys;"
    "r = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
    "sys.stderr.write(r.stderr); sys.stdout.write(r.stdout);"
    "u = resource.getrusage(resource.RUSAGE_CHILDREN);"
    "print(); print(u.ru_maxrss, u.ru_utime + u.ru_stime, u.ru_oublock); sys.exit(r.returncode)"
)


def _records(path: Path, n: int) -> None:
    rows = list(csv.reader((ROOT / "templates" / FOOD / "sample.csv").open(encoding="utf-8", newline="")))
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(rows[0])
        number = rows[0].index("许可证编号")
        for i in range(n):
            row = list(rows[1 + i % 10])
            row[0] = f"BENCH-{i:06d}"
            row[number] = f"JY1{i:013d}"  # one licence per number
            writer.writerow(row)


def _timed_command(args: list[str], env: dict[str, str]) -> tuple[dict[str, object], float, int, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", _WRAPPER, *args], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stderr}\n{done.stdout}")
    out = done.stdout.rstrip().splitlines()
    rss_text, cpu_text, blocks_text = out[-1].split()
    summary = json.loads("\n".join(out[:-1]))["job"]
    # Bytes the command and its workers had the kernel write to disk (ru_oublock: 512-byte
    # units): blob files, the database and its WAL, logs; what "bytes written per item" counts.
    summary["written_bytes"] = int(blocks_text) * 512
    return summary, wall, int(rss_text), float(cpu_text)


def _clone_licences(database_url: str, n: int) -> int:
    """Grow the imported licences to ``n`` by copying their registry rows under new identifiers.

    Importing is ~40 licences/s, so 100 000 real ones take most of an hour; a copy shares its
    seed's stored files (unsigned render, print copy), which is what a re-sign reads, so the
    re-sign measured is the real one on every row. What differs from N real licences: the seeds'
    renders stay in the page cache (real ones would be read from disk once each). Returns the
    number of rows added. Works on SQLite and PostgreSQL (``bench/cluster.py``).
    """
    from sqlalchemy import create_engine, insert, select

    from certsvc.storage.orm import Certificate, CertificateVersion

    engine = create_engine(database_url)
    with engine.begin() as conn:
        seeds = [dict(r._mapping) for r in conn.execute(select(Certificate.__table__))]
        versions = {r.certificate_id: dict(r._mapping) for r in conn.execute(select(CertificateVersion.__table__))}
        added = 0
        while len(seeds) + added < n:
            batch_c, batch_v = [], []
            for _ in range(min(5000, n - len(seeds) - added)):
                seed = seeds[added % len(seeds)]
                tag = f".c{added:06d}"
                row = {k: v for k, v in seed.items() if k != "id"}
                row.update(identifier_base=seed["identifier_base"] + tag, identifier=seed["identifier"] + tag,
                           licence_number=f"CLONE{added:09d}", idempotency_key=None, issue_response=None)
                version = {k: v for k, v in versions[seed["id"]].items() if k != "id"}
                version.update(identifier=seed["identifier"] + tag)
                batch_c.append(row)
                batch_v.append(version)
                added += 1
            conn.execute(insert(Certificate.__table__), batch_c)
            ids = {identifier: cert_id for identifier, cert_id in conn.execute(
                select(Certificate.identifier, Certificate.id).where(Certificate.identifier.in_([r["identifier"] for r in batch_c]))
            )}
            for version in batch_v:
                version["certificate_id"] = ids[version["identifier"]]
            conn.execute(insert(CertificateVersion.__table__), batch_v)
    engine.dispose()
    return added


def _blob_and_db_bytes(home: Path) -> int:
    """Bytes the deployment holds on disk: blob store, database and its WAL."""
    return sum(p.stat().st_size for p in home.rglob("*") if p.is_file() and (p.name.startswith("certsvc.sqlite3") or "blobs" in p.parts))


def _steady_rate(home: Path, job_id: int) -> float:
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{home / 'certsvc.sqlite3'}")
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT count(*), min(claimed_at), max(finished_at) FROM batch_items WHERE job_id = :j AND state = 'done'"),
            {"j": job_id},
        ).one()
    engine.dispose()
    from datetime import datetime

    n, first, last = row
    span = (datetime.fromisoformat(str(last)) - datetime.fromisoformat(str(first))).total_seconds()
    return float(n) / span if span > 0 else float("nan")


def _prepare(home: Path) -> dict[str, str]:
    """A fresh deployment; returns the environment for the CLI."""
    from certsvc.config import load_settings
    from certsvc.services.context import build_context
    from certsvc.services.embedded_init import init_embedded

    ctx = build_context(load_settings(home=home, public_url="https://certsvc.example.gov.cn"))
    init_embedded(ctx)
    ctx.database.dispose()
    return {**os.environ, "CERTSVC_HOME": str(home), "CERTSVC_PUBLIC_URL": "https://certsvc.example.gov.cn"}


def _rollover_seal(home: Path) -> int:
    """A new seal for the department: same name (same image), new key and certificate."""
    from certsvc.config import load_settings
    from certsvc.crypto import api as crypto
    from certsvc.services.context import build_context
    from certsvc.services.demo_departments import DEMO_DEPARTMENTS
    from certsvc.services.provisioning import department_by_code

    ctx = build_context(load_settings(home=home, public_url="https://certsvc.example.gov.cn"))
    from certsvc.services.provisioning import add_seal

    demo = DEMO_DEPARTMENTS[0]
    with ctx.database.transaction() as session:
        seal_id = add_seal(
            ctx, session, department=department_by_code(session, demo.code), name=demo.seal_name,
            algorithm=crypto.KeyAlgorithm.ECDSA_P256, actor=None,
        ).id
    ctx.database.dispose()
    return seal_id


def _baseline(repeat: int) -> dict[str, float]:
    """Tuned pyHanko (bench/issue.py) and certsvc's PdfSealer on one rendered licence, per core."""
    from bench.issue import _TunedSigner  # the same tuned baseline as the issuance benchmark
    from certsvc.config import load_settings
    from certsvc.rendering.renderer import render_licence
    from certsvc.services.context import build_context
    from certsvc.services.demo_departments import DEMO_DEPARTMENTS
    from certsvc.services.embedded_init import init_embedded
    from certsvc.services.producer import SealSnapshot
    from certsvc.services.provisioning import department_by_code
    from certsvc.storage.repositories import SealRepository

    home = Path(tempfile.mkdtemp(prefix="certsvc-bench-base-"))
    ctx = build_context(load_settings(home=home, public_url="https://certsvc.example.gov.cn"))
    init_embedded(ctx)
    demo = DEMO_DEPARTMENTS[0]
    with ctx.database.transaction() as session:
        department = department_by_code(session, demo.code)
        seal = SealRepository(session).active_for(department.id, ctx.clock.now())
        assert seal is not None
        snapshot = SealSnapshot.of(seal)
        name = department.name
    from certsvc.domain.identifiers import HolderIdType
    from certsvc.domain.licence import Issuer, LicenceRecord
    from certsvc.rendering.renderer import LicenceContent

    template = ctx.templates.get(FOOD)
    sample = template.load_sample()
    record = LicenceRecord(
        kind=template.kind, holder_name=sample["holder"]["name"], holder_id_type=HolderIdType(sample["holder"]["id_type"]),
        holder_id=sample["holder"]["id"], fields=template.validate_fields(sample["fields"]),
        valid_from=date.fromisoformat(sample["valid_from"]), valid_until=date.fromisoformat(sample["valid_until"]),
        issuer=Issuer(name=name, code=demo.code, area_code=demo.area_code),
    )
    content = LicenceContent(
        record=record, identifier="1.2.156.3005.2.11100000MB0143028R001.11152500011512829G.2026000001.001.0",
        issued_on=date(2026, 3, 15), verify_url="https://certsvc.example.gov.cn/v/x",
    )
    rendered = render_licence(template, content, seal_image_png=ctx.blobs.get(snapshot.image_sha256))
    pdf, box = rendered.electronic_pdf, rendered.seal_box

    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives import serialization
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields, signers

    key = serialization.load_pem_private_key(ctx.keys.get(snapshot.key_ref), ctx.passphrase())
    tuned = _TunedSigner(key, asn1_x509.Certificate.load(snapshot.certificate_der),  # type: ignore[arg-type]
                         [asn1_x509.Certificate.load(c) for c in snapshot.chain_der])
    pdf_signer = signers.PdfSigner(
        signers.PdfSignatureMetadata(field_name="Seal1"), tuned,
        new_field_spec=fields.SigFieldSpec("Seal1", box=(int(box.x1), int(box.y1), int(box.x2), int(box.y2))),
    )

    def tuned_once() -> None:
        pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)), bytes_reserved=6144)

    loaded = ctx.loaded_seal(snapshot)
    now = ctx.clock.now()

    def sealer_once() -> None:
        loaded.sealer.seal(pdf, box=box, department_name=name, signed_at=now, reason="bench")

    out = {}
    for label, fn in (("tuned_pyhanko", tuned_once), ("certsvc_sealer", sealer_once)):
        fn()
        samples = []
        cpu_start = time.process_time()
        for _ in range(repeat):
            start = time.perf_counter()
            fn()
            samples.append(time.perf_counter() - start)
        out[label] = 1.0 / statistics.median(samples)
        out[label + "_cpu"] = repeat / (time.process_time() - cpu_start)
    ctx.database.dispose()
    shutil.rmtree(home, ignore_errors=True)
    return out


def _slow_tsa(home: Path, latency_ms: float) -> str:
    """This deployment's built-in TSA behind an HTTP server that answers after ``latency_ms``."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from certsvc.config import load_settings
    from certsvc.services.context import build_context

    respond = build_context(load_settings(home=home), migrate=False).built_in_tsa().respond

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            time.sleep(latency_ms / 1000)
            answer = respond(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/timestamp-reply")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/tsa"


def pades_comparison(n: int, *, workers: int, rounds: int, latency_ms: float | None, keep: bool) -> None:
    """Re-sign rate of B-LTA against B-B (or, with an outside TSA, pipelined against not)."""
    home = Path(tempfile.mkdtemp(prefix=f"certsvc-bench-pades-{n}-"))
    env = _prepare(home)
    records = home / "records.csv"
    _records(records, n)
    command = [CERTSVC, "batch", "import", str(records), "--template", FOOD, "--department", "11152500011512829G",
               "--execute", "--workers", str(workers), "--json"]
    summary, _, _, _ = _timed_command(command, {**env, "CERTSVC_PADES_LEVEL": "B-B"})
    assert summary["done"] == n, summary
    if latency_ms is None:
        sides = {"B-B": {"CERTSVC_PADES_LEVEL": "B-B"}, "B-LTA": {"CERTSVC_PADES_LEVEL": "B-LTA"}}
    else:
        url = _slow_tsa(home, latency_ms)
        common = {"CERTSVC_PADES_LEVEL": "B-LTA", "CERTSVC_TSA_URL": url}
        sides = {"depth 1": {**common, "CERTSVC_BATCH_PIPELINE_DEPTH": "1"}, "depth 4": {**common, "CERTSVC_BATCH_PIPELINE_DEPTH": "4"}}
    print(f"machine: {machine()}")
    print(f"load average before the runs: {os.getloadavg()}")
    what = "in-process TSA" if latency_ms is None else f"outside TSA answering after {latency_ms:.0f} ms"
    print(f"re-sign N={n} on {workers} worker(s), {what}; rounds alternate the two sides")
    print("round | side | wall_s | steady_per_s")
    rates: dict[str, list[float]] = {side: [] for side in sides}
    for round_number in range(rounds):
        for side, extra in sides.items():
            command = [CERTSVC, "batch", "resign", "--to-seal", str(_rollover_seal(home)), "--execute",
                       "--workers", str(workers), "--json", "--reason", "bench"]
            summary, wall, _, _ = _timed_command(command, {**env, **extra})
            assert summary["done"] == n and summary["failed"] == 0, summary
            steady = _steady_rate(home, int(summary["job_id"]))  # type: ignore[arg-type]
            rates[side].append(steady)
            print(f"{round_number + 1} | {side} | {wall:.1f} | {steady:.2f}", flush=True)
    (a, b) = sides
    ma, mb = statistics.median(rates[a]), statistics.median(rates[b])
    print(f"median steady rate: {a} {ma:.2f}/s, {b} {mb:.2f}/s; {b} / {a} = {mb / ma:.2f}")
    # Each round's two sides ran back to back: their ratio is the least disturbed by other work.
    pairwise = statistics.median(y / x for x, y in zip(rates[a], rates[b], strict=True))
    print(f"median of the per-round ratios {b} / {a}: {pairwise:.2f}")
    if not keep:
        shutil.rmtree(home, ignore_errors=True)


def _deployment(n: int, *, seed: int | None, workers: int, label: str) -> tuple[Path, dict[str, str]]:
    """A fresh deployment holding ``n`` licences: all imported, or ``seed`` imported then copied."""
    home = Path(tempfile.mkdtemp(prefix=f"certsvc-bench-{label}-{n}-"))
    env = _prepare(home)
    records = home / "records.csv"
    _records(records, min(n, seed) if seed else n)
    command = [CERTSVC, "batch", "import", str(records), "--template", FOOD, "--department", "11152500011512829G",
               "--execute", "--workers", str(workers), "--json"]
    summary, _, _, _ = _timed_command(command, env)
    assert summary["failed"] == 0, summary
    if seed and n > seed:
        _clone_licences(f"sqlite:///{home / 'certsvc.sqlite3'}", n)
    return home, env


def storage_comparison(n: int, *, seed: int | None, workers: int, rounds: int, pades: str, keep: bool) -> None:
    """Re-sign storing whole files (the baseline) against the unsigned render + increment."""
    home, env = _deployment(n, seed=seed, workers=workers, label="storage")
    print(f"machine: {machine()}")
    print(f"load average before the runs: {os.getloadavg()}")
    print(f"re-sign N={n} ({seed or n} imported{', the rest copied rows' if seed and n > seed else ''}) on {workers} "
          f"worker(s), PAdES {pades}; rounds alternate the two storages")
    print("round | storage | wall_s | steady_per_s | disk_growth_KB_per_item | kernel_written_KB_per_item | peak_rss_MiB")
    sides = {"whole": "whole", "increment": "increment"}
    rows: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    for round_number in range(rounds):
        for side, storage in sides.items():
            command = [CERTSVC, "batch", "resign", "--to-seal", str(_rollover_seal(home)), "--execute",
                       "--workers", str(workers), "--json", "--reason", "bench"]
            before = _blob_and_db_bytes(home)
            summary, wall, rss, _ = _timed_command(
                command, {**env, "CERTSVC_RESIGN_STORAGE": storage, "CERTSVC_PADES_LEVEL": pades}
            )
            assert summary["done"] == n and summary["failed"] == 0, summary
            growth = (_blob_and_db_bytes(home) - before) / n
            written = int(summary["written_bytes"]) / n  # type: ignore[call-overload]
            steady = _steady_rate(home, int(summary["job_id"]))  # type: ignore[call-overload]
            row = {"wall": wall, "steady": steady, "growth": growth, "written": written, "rss": rss / 1024}
            rows[side].append(row)
            print(f"{round_number + 1} | {side} | {wall:.1f} | {steady:.1f} | {growth / 1024:.1f} | "
                  f"{written / 1024:.1f} | {rss / 1024:.0f}", flush=True)
    med = {side: {k: statistics.median(r[k] for r in rows[side]) for k in rows[side][0]} for side in sides}
    for side in sides:
        m = med[side]
        print(f"median, {side}: steady {m['steady']:.1f}/s, disk growth {m['growth'] / 1024:.1f} KB/item, "
              f"kernel-written {m['written'] / 1024:.1f} KB/item, peak RSS {m['rss']:.0f} MiB")
    w, i = med["whole"], med["increment"]
    print(f"increment / whole: steady rate {i['steady'] / w['steady']:.2f}, disk growth {i['growth'] / w['growth']:.2f}, "
          f"kernel-written {i['written'] / w['written']:.2f}")
    if not keep:
        shutil.rmtree(home, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200,1000", help="comma-separated N (the issue's full run: 10000)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    parser.add_argument("--repeat", type=int, default=50, help="signatures per baseline figure")
    parser.add_argument(
        "--resign-rounds", type=int, default=1,
        help="re-sign the imported licences this many times (a new seal each time); the summary uses "
             "the median round (a shared, noisy machine: use 3 or more)",
    )
    parser.add_argument("--keep", action="store_true", help="keep each run's CERTSVC_HOME (deleted by default)")
    parser.add_argument("--pades", type=int, default=None, help="N: compare re-signing at B-LTA with B-B instead")
    parser.add_argument("--tsa-latency-ms", type=float, default=None, help="with --pades: an outside TSA with this latency")
    parser.add_argument("--storage", type=int, default=None,
                        help="N: compare re-signing that stores whole files (baseline) with increments instead")
    parser.add_argument("--storage-pades", default="B-LTA", help="with --storage: the PAdES level (B-B or B-LTA)")
    parser.add_argument("--seed", type=int, default=None,
                        help="import only this many licences and copy their rows up to N (fast set-up; see _clone_licences)")
    args = parser.parse_args()
    if args.storage is not None:
        workers = int(args.workers.split(",")[-1])
        storage_comparison(args.storage, seed=args.seed, workers=workers, rounds=max(1, args.resign_rounds),
                           pades=args.storage_pades, keep=args.keep)
        return
    if args.pades is not None:
        workers = int(args.workers.split(",")[-1])
        pades_comparison(args.pades, workers=workers, rounds=max(1, args.resign_rounds), latency_ms=args.tsa_latency_ms, keep=args.keep)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    worker_counts = [int(w) for w in args.workers.split(",")]

    base = _baseline(args.repeat)
    print(f"machine: {machine()}")
    print(
        f"baseline, one process: tuned pyHanko {base['tuned_pyhanko']:.1f} signatures/s; "
        f"certsvc PdfSealer alone {base['certsvc_sealer']:.1f}/s; per CPU-second: tuned pyHanko "
        f"{base['tuned_pyhanko_cpu']:.1f}, PdfSealer {base['certsvc_sealer_cpu']:.1f}"
    )
    print(f"load average before the runs (other work on this machine skews wall figures): {os.getloadavg()}")
    header = ["N", "workers", "phase", "wall_s", "wall_per_s", "steady_per_s", "steady_per_worker_vs_tuned",
              "per_cpu_s", "per_cpu_s_vs_tuned", "peak_rss_MiB"]
    print(" | ".join(header))
    results: dict[tuple[int, int, str], dict[str, float]] = {}
    for n in sizes:
        for workers in worker_counts:
            if args.seed:
                home, env = _deployment(n, seed=args.seed, workers=workers, label=f"seeded-{workers}")
                phases: tuple[str, ...] = ("resign",) * max(1, args.resign_rounds)
            else:
                home = Path(tempfile.mkdtemp(prefix=f"certsvc-bench-{n}-{workers}-"))
                env = _prepare(home)
                records = home / "records.csv"
                _records(records, n)
                phases = ("import", *["resign"] * max(1, args.resign_rounds))
            resign_rows: list[dict[str, float]] = []
            for phase in phases:
                if phase == "import":
                    command = [CERTSVC, "batch", "import", str(records), "--template", FOOD, "--department",
                               "11152500011512829G", "--execute", "--workers", str(workers), "--json"]
                else:
                    command = [CERTSVC, "batch", "resign", "--to-seal", str(_rollover_seal(home)), "--execute",
                               "--workers", str(workers), "--json", "--reason", "bench key rollover"]
                summary, wall, rss, cpu = _timed_command(command, env)
                assert summary["done"] == n and summary["failed"] == 0, summary
                steady = _steady_rate(home, int(summary["job_id"]))  # type: ignore[arg-type]
                row = {"wall": wall, "wall_rate": n / wall, "steady": steady, "rss": rss / 1024}
                if phase == "resign":
                    resign_rows.append(row)
                    row = {key: statistics.median(r[key] for r in resign_rows) for key in row}
                results[(n, workers, phase)] = row
                vs = f"{steady / workers / base['tuned_pyhanko']:.2f}" if phase == "resign" else "-"
                # Items per CPU-second of the CLI and all its workers (start-up included): what one
                # worker does on a core of its own, whatever else the machine is doing.
                vs_cpu = f"{n / cpu / base['tuned_pyhanko_cpu']:.2f}" if phase == "resign" else "-"
                print(
                    f"{n} | {workers} | {phase} | {wall:.1f} | {n / wall:.1f} | {steady:.1f} | {vs} | "
                    f"{n / cpu:.1f} | {vs_cpu} | {rss / 1024:.0f}",
                    flush=True,
                )
            if not args.keep:
                shutil.rmtree(home, ignore_errors=True)  # ~1.1 GB per 1 000 licences
    for n in sizes:
        for phase in ("import", "resign"):
            one, two = results.get((n, 1, phase)), results.get((n, 2, phase))
            if one and two:
                print(f"speed-up with 2 workers, N={n}, {phase}: steady {two['steady'] / one['steady']:.2f}, wall {two['wall_rate'] / one['wall_rate']:.2f}")
    if len(sizes) >= 2:
        small, large = min(sizes), max(sizes)
        for workers in worker_counts:
            for phase in ("import", "resign"):
                a, b = results.get((small, workers, phase)), results.get((large, workers, phase))
                if a and b:
                    print(f"peak RSS N={large} vs N={small}, {workers} worker(s), {phase}: {100 * (b['rss'] / a['rss'] - 1):+.1f} %")


if __name__ == "__main__":
    main()
