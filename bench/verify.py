"""Verifying a file certsvc issued: the reused sealing record beside the full validation.

1. Through the service (no HTTP): ``VerificationService.verify_pdf`` on an issued electronic PDF
   (B-LTA, the default; one SM2, one ECDSA P-256 and one RSA-3072 department), default path
   (the outcome recorded by the first verification reused) and ``full=True`` (the reference
   validator), both measured in this run, beside the floor: SHA-256 of the file; and what
   making the record costs that first verification (``make_sealing_record``).
2. ``POST /api/v1/verify`` at concurrency 16 against one real ``certsvc serve`` (SQLite, its own
   temporary home), with ``CERTSVC_FAST_VERIFY`` true and then false (the same server build).

    .venv/bin/python bench/verify.py [N] [REQUESTS]
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx

from bench._machine import machine, median_ms, run_load, timed
from tools.local_cluster import LocalCluster

CONCURRENCY = 16
FOOD = "food-business-licence"


def service_part(n: int) -> None:
    from certsvc.config import load_settings
    from certsvc.services.context import build_context
    from certsvc.services.demo_departments import DEMO_DEPARTMENTS
    from certsvc.services.embedded_init import init_embedded
    from certsvc.services.issuance import IssuanceService
    from certsvc.services.principals import Principal, Role
    from certsvc.services.provisioning import department_by_code
    from certsvc.services.requests import parse_issue_request
    from certsvc.services.sealing_record import make_sealing_record
    from tests.conftest import sample_request

    ctx = build_context(load_settings(home=Path(tempfile.mkdtemp(prefix="certsvc-bench-verify-"))))
    init_embedded(ctx)
    from certsvc.services.verification import VerificationService

    service = VerificationService(ctx)
    print(f"## 1. Through the service, N = {n} per figure (medians), PAdES B-LTA\n")
    print("| seal | file KiB | SHA-256 (floor) ms | fast ms | full ms | full ÷ fast | fast ÷ floor | making the record ms |")
    print("|---|---|---|---|---|---|---|---|")
    seen: set[str] = set()
    for number, demo in enumerate(DEMO_DEPARTMENTS):
        if demo.algorithm.value in seen:
            continue
        seen.add(demo.algorithm.value)
        with ctx.database.read() as session:
            department = department_by_code(session, demo.code)
            principal = Principal(client_id=0, name="bench", role=Role.ISSUER, department_id=department.id, department_code=demo.code)
        request = {**sample_request(), "template": FOOD}
        request["fields"] = {**request["fields"], "licence_number": f"JY2152502{number:07d}"}
        issued = IssuanceService(ctx).issue(parse_issue_request(request), principal=principal)
        data = ctx.blobs.get(issued.sha256)
        fast_report, full_report = service.verify_pdf(data), service.verify_pdf(data, full=True)
        same = dataclasses.replace(fast_report, checked_at=full_report.checked_at) == full_report
        assert same and fast_report.verdict.value == "valid", fast_report.reasons
        floor = median_ms([timed(lambda: hashlib.sha256(data).digest()) for _ in range(n)])
        fast = median_ms([timed(lambda: service.verify_pdf(data)) for _ in range(n)])
        full = median_ms([timed(lambda: service.verify_pdf(data, full=True)) for _ in range(n)])
        ses = _stored_ses_signature(ctx, issued.sha256)
        recording = median_ms([timed(lambda: make_sealing_record(ctx, data, ses)) for _ in range(max(3, n // 3))])
        print(
            f"| {demo.algorithm.value} | {len(data) / 1024:.0f} | {floor:.2f} | {fast:.2f} | {full:.1f} | {full / fast:.1f}× "
            f"| {fast / floor:.0f}× | {recording:.1f} |"
        )
    ctx.database.dispose()


def _stored_ses_signature(ctx: object, sha256: str) -> bytes | None:
    from sqlalchemy import select

    from certsvc.services.context import ServiceContext
    from certsvc.storage.orm import CertificateVersion

    assert isinstance(ctx, ServiceContext)
    with ctx.database.read() as session:
        return session.scalars(select(CertificateVersion.ses_signature_der).where(CertificateVersion.sha256 == sha256)).one()


def _load(url: str, pdf: bytes, count: int) -> dict[str, float]:
    """``count`` uploads of ``pdf`` at concurrency 16; an answer other than "valid" is an error."""
    request = ("POST", "/api/v1/verify", {"content": pdf, "headers": {"content-type": "application/pdf"}})
    return run_load([url], count, lambda i: request, concurrency=CONCURRENCY,
                    is_ok=lambda answer: answer.json()["verdict"] == "valid")  # fmt: skip


def http_part(requests: int) -> None:
    print(f"\n## 2. POST /api/v1/verify at concurrency {CONCURRENCY}, one `certsvc serve`, SQLite, {requests} requests\n")
    print("| path | per second | p50 ms | p99 ms | errors |")
    print("|---|---|---|---|---|")
    figures = {}
    with LocalCluster(api_processes=1, workers=0, job_engine="local", database="sqlite") as cluster:
        key = cluster.credentials["departments"][0]["api_key"]
        headers = {"Authorization": f"Bearer {key}"}
        sample = json.loads((ROOT / "templates" / FOOD / "sample.json").read_text(encoding="utf-8"))
        url = cluster.api_urls[0]
        issued = httpx.post(url + "/api/v1/certificates", json=sample, headers=headers, timeout=120)
        issued.raise_for_status()
        pdf = httpx.get(f"{url}/api/v1/certificates/{issued.json()['identifier']}/pdf", headers=headers, timeout=60).content
        # The same home served again with the fast path off: the same database, blobs and keys.
        cluster.env["CERTSVC_FAST_VERIFY"] = "false"
        full_url = cluster.start_api()
        cluster.wait_ready(full_url)
        for label, target in (("fast (default)", url), ("full (CERTSVC_FAST_VERIFY=false)", full_url)):
            _load(target, pdf, CONCURRENCY * 2)  # warm-up
            figures[label] = _load(target, pdf, requests)
    for label, m in figures.items():
        print(f"| {label} | {m['per_s']:.0f} | {m['p50_ms']:.1f} | {m['p99_ms']:.1f} | {int(m['errors'])} |")
    print(f"\nfull ÷ fast throughput: {figures['fast (default)']['per_s'] / figures['full (CERTSVC_FAST_VERIFY=false)']['per_s']:.1f}×")


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 30
    requests = int(sys.argv[2]) if len(sys.argv) > 2 else 800
    print(f"machine: {machine()}\n")
    service_part(n)
    http_part(requests)


if __name__ == "__main__":
    main()
