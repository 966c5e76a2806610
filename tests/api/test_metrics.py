"""GET /metrics: what an operator's Prometheus sees, in one process and summed over workers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from certsvc.services.context import ServiceContext
from certsvc.storage.orm_batch import BatchItem, BatchJob
from tests.conftest import PUBLIC_URL, auth, isolated_env, make_department, sample_request
from tests.servers import free_port

CERTSVC = Path(sys.executable).parent / "certsvc"


def _samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _value(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_issue_seal_verify_latency_and_errors_are_counted(client: TestClient, embedded: ServiceContext) -> None:
    _code, issuer, _ = make_department(embedded)
    before = _samples(client.get("/metrics").text)

    issued = client.post("/api/v1/certificates", json=sample_request(), headers=auth(issuer))
    assert issued.status_code == 201
    pdf = client.get(issued.json()["links"]["pdf"], headers=auth(issuer)).content
    assert client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"}).json()["verdict"] == "valid"
    assert client.get("/api/v1/certificates/no-such-licence", headers=auth(issuer)).status_code == 404

    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    after = _samples(response.text)

    def grew(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert grew("certsvc_licences_issued_total", template="food-business-licence") == 1
    assert grew("certsvc_seals_applied_total", algorithm="ecdsa-p256") == 1
    assert grew("certsvc_seal_seconds_count", algorithm="ecdsa-p256") == 1
    assert grew("certsvc_verifications_total", kind="pdf", verdict="valid") == 1
    assert grew("certsvc_http_request_seconds_count", method="POST", route="/api/v1/certificates", status="201") == 1
    assert grew("certsvc_http_request_seconds_count", method="GET", route="/api/v1/certificates/{identifier}", status="404") == 1
    assert grew("certsvc_http_errors_total", status="404", code="not_found") == 1
    # Routes are labelled by their template: no licence identifier ever becomes a label value.
    assert not any("1.2.156" in value for (_n, labels) in after for _k, value in labels)


def test_batch_backlog_is_read_from_the_database(client: TestClient, embedded: ServiceContext) -> None:
    now = embedded.clock.now()
    with embedded.database.transaction() as session:
        job = BatchJob(kind="resign", state="pending", params={}, fingerprint=f"metrics-{now.timestamp()}", created_by="test", created_at=now, total=3)
        session.add(job)
        session.flush()
        session.add_all(BatchItem(job_id=job.id, seq=n, key=f"k{n}", payload={}, state="pending") for n in range(3))
    samples = _samples(client.get("/metrics").text)
    assert _value(samples, "certsvc_batch_open_items", kind="resign", state="pending") >= 3
    with embedded.database.transaction() as session:
        session.get(BatchJob, job.id).state = "cancelled"  # type: ignore[union-attr]
    after = _samples(client.get("/metrics").text)
    assert _value(after, "certsvc_batch_open_items", kind="resign", state="pending") == _value(samples, "certsvc_batch_open_items", kind="resign", state="pending") - 3


@pytest.mark.slow
def test_every_worker_of_serve_workers_is_summed(embedded: ServiceContext, tmp_path: Path) -> None:
    """`certsvc serve --workers 2`: whichever worker answers a scrape, it counts every worker's requests."""
    port = free_port()
    env = {
        **os.environ,
        **isolated_env(embedded.settings.resolved_home, embedded.settings.database_url, CERTSVC_PUBLIC_URL=PUBLIC_URL),
    }
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    process = subprocess.Popen(
        [str(CERTSVC), "serve", "--port", str(port), "--workers", "2"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # each worker loads every template
        while True:
            assert process.poll() is None, process.communicate()[1].decode(errors="replace")
            try:
                if httpx.get(f"{url}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "certsvc serve did not start"
            time.sleep(0.3)
        time.sleep(3)  # let the second worker come up too
        # New connections each time: the kernel spreads them over both workers.
        for _ in range(40):
            assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200
        seen = set()
        for _ in range(10):
            samples = _samples(httpx.get(f"{url}/metrics", timeout=10).text)
            seen.add(_value(samples, "certsvc_http_request_seconds_count", method="GET", route="/readyz", status="200"))
        assert seen == {40.0}, seen
        files = list((embedded.settings.resolved_home / "run" / "prometheus").glob("*.db"))
        assert len({f.name.rsplit("_", 1)[-1] for f in files}) >= 2, "only one worker wrote metrics"
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)
