"""Whole issuance of one licence through the service: render + seal + store + registry.

Measured for this tree and, in the same run, for a baseline commit (default ``945e101``, the
code before static layers and grouped blob writes) exported with ``git archive``: each side
runs in its own process, the sides alternate round by round so machine load hits both alike,
and each figure is the median over rounds of the per-round median. Both PAdES levels are
measured: B-LTA (the default: signature time-stamp, validation data and a document
time-stamp from the built-in TSA) and B-B (the signature alone). Beside them the floor: SHA-256
of the issued files, one signature, and ``openssl speed``.

    .venv/bin/python bench/issue_whole.py [--n 30] [--rounds 3] [--baseline REV]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPARTMENT = "11152500011512829G"  # ECDSA P-256 seal in the embedded set-up
LEVELS = ("B-LTA", "B-B")


def _child(root: Path, level: str, n: int) -> None:
    """Issue ``n`` licences with the code under ``root``; print per-licence medians as JSON."""
    sys.path.insert(0, str(root))
    import itertools

    import certsvc
    from certsvc.config import load_settings
    from certsvc.domain.licence import Issuer, LicenceRecord
    from certsvc.rendering.renderer import LicenceContent, render_licence
    from certsvc.services.context import build_context
    from certsvc.services.issuance import IssuanceService
    from certsvc.services.principals import Principal, Role
    from certsvc.services.provisioning import department_by_code
    from certsvc.services.requests import parse_issue_request

    try:
        from certsvc.services.embedded_init import init_embedded
    except ImportError:  # the baseline's code, before the embedded set-up had a module of its own
        from certsvc.services.provisioning import init_embedded  # type: ignore[attr-defined,no-redef]

    assert Path(certsvc.__file__).resolve().is_relative_to(root.resolve()), certsvc.__file__
    home = Path(tempfile.mkdtemp(prefix="certsvc-bench-"))
    settings = load_settings(home=home, public_url="https://zwfw.xlgl.gov.cn")
    ctx = build_context(settings.model_copy(update={"pades_level": level}))
    init_embedded(ctx)
    request = parse_issue_request(json.loads((root / "templates/food-business-licence/sample.json").read_text()))
    with ctx.database.transaction() as session:
        department_id = department_by_code(session, DEPARTMENT).id
    principal = Principal(client_id=0, name="bench", role=Role.ISSUER, department_id=department_id,
                          department_code=DEPARTMENT)  # fmt: skip
    service = IssuanceService(ctx)
    numbered = (request.model_copy(update={"fields": {**request.fields, "licence_number": f"JY1{i:013d}"}})
                for i in itertools.count())  # fmt: skip
    for _ in range(3):  # warm: fonts, templates, keys, static layers
        issued = service.issue(next(numbered), principal=principal)
    issue_s, issue_cpu_s = [], []
    for _ in range(n):
        start, cpu = time.perf_counter(), time.process_time()
        issued = service.issue(next(numbered), principal=principal)
        issue_s.append(time.perf_counter() - start)
        issue_cpu_s.append(time.process_time() - cpu)  # the process's own work, waits excluded
    # Rendering alone, same template, same size of QR text as an issued licence's signed one.
    template = ctx.templates.get(request.template)
    record = LicenceRecord(
        kind=template.kind, holder_name=request.holder.name, holder_id_type=request.holder.id_type,
        holder_id=request.holder.id, fields=template.validate_fields(request.fields),
        valid_from=request.valid_from, valid_until=request.valid_until,
        issuer=Issuer(name="锡林郭勒盟市场监督管理局", code=DEPARTMENT, area_code="152500"),
    )  # fmt: skip
    content = LicenceContent(record=record, identifier=issued.identifier, issued_on=ctx.clock.now().date(),
                             verify_url="https://zwfw.xlgl.gov.cn/v/" + issued.identifier + "?p=" + "Q" * 180)  # fmt: skip
    seal_png = next(iter(ctx.blobs.get(sha) for sha in _seal_images(ctx)))
    render_licence(template, content, seal_image_png=seal_png)
    render_s = []
    for _ in range(n):
        start = time.perf_counter()
        rendered = render_licence(template, content, seal_image_png=seal_png)
        render_s.append(time.perf_counter() - start)
    signed = ctx.blobs.get(issued.sha256)
    print(json.dumps({
        "issue_ms": statistics.median(issue_s) * 1000,
        "issue_cpu_ms": statistics.median(issue_cpu_s) * 1000,
        "render_ms": statistics.median(render_s) * 1000,
        "file_bytes": len(signed) + len(rendered.print_pdf) + len(rendered.electronic_pdf),
    }))  # fmt: skip


def _seal_images(ctx: object) -> list[str]:
    from sqlalchemy import select

    from certsvc.storage.orm import Seal

    with ctx.database.read() as session:  # type: ignore[attr-defined]
        return list(session.scalars(select(Seal.image_sha256)))


def _export(rev: str) -> Path:
    target = Path(tempfile.mkdtemp(prefix="certsvc-baseline-"))
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target


def _run_child(root: Path, level: str, n: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run([sys.executable, __file__, "--child", str(root), level, str(n)], check=True,
                         capture_output=True, text=True, cwd=root, env=env).stdout  # fmt: skip
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def _floor(file_bytes: int) -> list[str]:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    data = os.urandom(file_bytes)
    sha = min(_timed(lambda: hashlib.sha256(data).digest()) for _ in range(50))
    key = ec.generate_private_key(ec.SECP256R1())
    sig = statistics.median(_timed(lambda: key.sign(b"x" * 32, ec.ECDSA(hashes.SHA256()))) for _ in range(200))
    lines = [f"SHA-256 of the issued files ({file_bytes // 1024} KiB): {sha * 1000:.2f} ms",
             f"one ECDSA P-256 signature (cryptography): {sig * 1000:.3f} ms"]  # fmt: skip
    try:
        speed = subprocess.run(["openssl", "speed", "-seconds", "1", "-bytes", "16384", "sha256"],
                               check=True, capture_output=True, text=True).stdout  # fmt: skip
        match = re.search(r"^sha256\s+([\d.]+)k", speed, re.M)
        if match:
            lines.append(f"openssl speed sha256 (16 KiB blocks): {float(match.group(1)) / 1024:.0f} MB/s")
        speed = subprocess.run(["openssl", "speed", "-seconds", "1", "ecdsap256"], check=True,
                               capture_output=True, text=True).stdout  # fmt: skip
        match = re.search(r"256 bits ecdsa \(nistp256\)\s+([\d.]+)s\s+([\d.]+)s\s+([\d.]+)", speed)
        if match:
            per_s = float(match.group(3))
            lines.append(f"openssl speed ecdsap256: {per_s:.0f} signatures/s ({1000 / per_s:.3f} ms each)")
    except (OSError, subprocess.CalledProcessError):
        lines.append("openssl speed: not available")
    return lines


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--baseline", default="945e101")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench._machine import machine

    baseline = _export(args.baseline)
    print(f"machine: {machine()}; load average {os.getloadavg()[0]:.2f}")
    print(f"N = {args.n} licences per round, {args.rounds} rounds; baseline {args.baseline} (git archive)")
    runs: dict[tuple[str, str], list[dict[str, float]]] = {}
    for r in range(args.rounds):
        for level in LEVELS:
            sides = (("now", ROOT), ("baseline", baseline))
            for side, root in sides if r % 2 == 0 else sides[::-1]:
                runs.setdefault((side, level), []).append(_run_child(root, level, args.n))
    keys = ("issue_ms", "issue_cpu_ms", "render_ms")
    print("level | side | issue whole, wall (ms) | issue whole, CPU (ms) | render both PDFs (ms)")
    for level in LEVELS:
        figures = {}
        for side in ("now", "baseline"):
            rows = runs[(side, level)]
            figures[side] = {k: statistics.median(row[k] for row in rows) for k in keys}
            print(f"{level} | {side} | " + " | ".join(f"{figures[side][k]:.1f}" for k in keys))
        print(f"{level} | now ÷ baseline | " + " | ".join(f"{figures['now'][k] / figures['baseline'][k]:.2f}" for k in keys))
    print("floor:")
    for line in _floor(int(runs[("now", "B-B")][0]["file_bytes"])):
        print("  " + line)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        _child(Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        main()
