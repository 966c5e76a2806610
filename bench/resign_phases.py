"""Where a re-signed licence's CPU goes: each phase of the re-sign item path, per licence.

A fresh embedded deployment (SQLite, blob directory) imports N licences, rolls its first
department's seal over to a new key, then re-signs them all in this process (``workers=0``:
the local engine's in-thread mode, the same handler code a worker runs). Each phase is timed
with ``time.process_time`` around the function that does it, so the figures are CPU, not wall
(fsync and lock waits are not in them), and stay readable on a loaded machine.

    .venv/bin/python bench/resign_phases.py                 # N = 300, PAdES B-B
    .venv/bin/python bench/resign_phases.py --n 500 --pades-level B-LTA

Beside them, the floor in the same run: SHA-256 of one signed file and one ECDSA P-256 signature.
"""

from __future__ import annotations

import argparse
import collections
import functools
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._machine import machine
from bench.batch import CERTSVC, FOOD, _prepare, _records, _rollover_seal

_DEPARTMENT = "11152500011512829G"
_cpu: collections.Counter[str] = collections.Counter()


def _timed(owner: Any, name: str, label: str) -> None:
    original: Callable[..., Any] = getattr(owner, name)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            _cpu[label] += time.process_time() - start

    setattr(owner, name, timed)


def _instrument() -> None:
    import certsvc.crypto.pdf_signing as pdf_signing
    import certsvc.jobs.local as local_engine
    import certsvc.services.batch_resign as resign
    import certsvc.storage.blobs as blobs

    _timed(local_engine, "claim_items", "claim + read the chunk (prepare)")
    _timed(resign.ResignHandler, "_produce", "produce the new files")
    _timed(pdf_signing.PdfSealer, "seal", "of which: PDF seal (pyHanko's incremental writer + CMS)")
    _timed(blobs.LocalBlobStore, "put_increment", "of which: store the increment")
    _timed(blobs.LocalBlobStore, "get", "of which: read the stored render")
    _timed(blobs.LocalBlobStore, "sync", "flush the chunk's files (syncfs)")
    _timed(resign.ResignHandler, "_record", "registry rows (version, audit, outbox, outcome)")


def _floor(signed: bytes) -> tuple[float, float]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    start = time.perf_counter()
    for _ in range(200):
        hashlib.sha256(signed).digest()
    sha = (time.perf_counter() - start) / 200
    start = time.perf_counter()
    for _ in range(200):
        key.sign(b"x" * 32, ec.ECDSA(hashes.SHA256()))
    return sha, (time.perf_counter() - start) / 200


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="licences imported and re-signed")
    parser.add_argument("--pades-level", default="B-B")
    args = parser.parse_args()
    n = args.n
    home = Path(tempfile.mkdtemp(prefix="certsvc-bench-phases-"))
    try:
        os.environ["CERTSVC_PADES_LEVEL"] = args.pades_level
        env = _prepare(home)
        records = home / "records.csv"
        _records(records, n)
        subprocess.run([CERTSVC, "batch", "import", str(records), "--template", FOOD, "--department", _DEPARTMENT,
                        "--execute", "--workers", "2", "--json"], env=env, check=True, capture_output=True)  # fmt: skip
        seal = _rollover_seal(home)
        os.environ.update(env)
        from sqlalchemy import text

        from certsvc.config import load_settings
        from certsvc.services.batch import BatchService
        from certsvc.services.context import build_context
        from certsvc_cli.operator import operator_principal

        _instrument()
        ctx = build_context(load_settings())
        service = BatchService(ctx)
        principal = operator_principal()
        job = service.create_resign_job(
            principal=principal, reason="bench", compromised_at=None, to_seal_id=seal,
            department_code=_DEPARTMENT, from_seal_id=None, issued_before=None, template=None,
        )  # fmt: skip
        wall, cpu = time.perf_counter(), time.process_time()
        progress = service.run(job.job_id, principal=principal, workers=0, on_progress=None)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert progress.done == n, progress
        with ctx.database.read() as session:
            sha = session.execute(text("SELECT sha256 FROM certificate_versions ORDER BY id DESC LIMIT 1")).scalar_one()
        sha_s, sign_s = _floor(ctx.blobs.get(sha))
        ctx.database.dispose()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; PAdES {args.pades_level}; N = {n}")
    print(f"whole item path, in one process: {cpu / n * 1000:.2f} ms CPU, {wall / n * 1000:.2f} ms wall per licence")
    print("| phase | CPU ms per licence | share of the item's CPU |")
    print("|---|---|---|")
    for label, seconds in _cpu.most_common():
        print(f"| {label} | {seconds / n * 1000:.2f} | {seconds / cpu:.0%} |")
    floor = sha_s + sign_s
    print(f"floor, same run: SHA-256 of the signed file {sha_s * 1000:.3f} ms + one ECDSA P-256 signature "
          f"{sign_s * 1000:.3f} ms = {floor * 1000:.3f} ms; the item path is {cpu / n / floor:.0f}x that")


if __name__ == "__main__":
    main()
