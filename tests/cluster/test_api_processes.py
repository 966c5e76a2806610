"""Several API processes on one PostgreSQL registry: `certsvc serve --workers 2` on one port and
a second `certsvc serve` on another, started for real; one idempotency key sent to both at once
gives one licence, and issuance from both gets consecutive serials."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from certsvc.jobs.api import new_token
from certsvc.services.context import ServiceContext
from certsvc.storage.orm import Certificate
from tests.conftest import (
    PUBLIC_URL,
    DatabaseFactory,
    auth,
    isolated_env,
    make_department,
    sample_request,
)
from tests.servers import free_port

pytestmark = pytest.mark.slow

CERTSVC = Path(sys.executable).parent / "certsvc"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def servers(embedded: ServiceContext, database_factory: DatabaseFactory) -> Iterator[tuple[list[str], subprocess.Popen[bytes]]]:
    if not database_factory.is_postgresql:
        pytest.skip("several API processes run in the PostgreSQL pass (make test: pytest --db=postgresql)")
    env = {
        **os.environ,
        **isolated_env(embedded.settings.resolved_home, embedded.settings.database_url, CERTSVC_PUBLIC_URL=PUBLIC_URL),
        "CERTSVC_PUBLIC_RATE_LIMIT_PER_MINUTE": "0",
    }
    ports = [free_port(), free_port()]
    processes = [
        subprocess.Popen([str(CERTSVC), "serve", "--port", str(ports[0]), "--workers", "2"], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True),
        subprocess.Popen([str(CERTSVC), "serve", "--port", str(ports[1])], env=env,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True),
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        deadline = time.monotonic() + 300  # a worker loads every template; slow on a busy CI machine
        for url, process in zip(urls, processes, strict=True):
            while True:
                assert process.poll() is None, process.communicate()[1].decode(errors="replace")
                try:
                    if httpx.get(f"{url}/readyz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, f"{url} not ready"
                time.sleep(0.3)
        yield urls, processes[0]
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def test_serve_workers_runs_that_many_api_processes(servers: tuple[list[str], subprocess.Popen[bytes]]) -> None:
    urls, multi = servers
    workers = [pid for pid in _children(multi.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")]
    assert len(workers) == 2, workers
    for url in urls:
        assert httpx.get(f"{url}/healthz", timeout=10).json()["status"] == "ok"


def test_one_idempotency_key_sent_to_two_processes_at_once_gives_one_licence(
    servers: tuple[list[str], subprocess.Popen[bytes]], embedded: ServiceContext
) -> None:
    urls, _ = servers
    _code, issuer, _ = make_department(embedded)
    key = "two-nodes-" + new_token()
    headers = {**auth(issuer), "Idempotency-Key": key}

    def post(url: str) -> httpx.Response:
        return httpx.post(f"{url}/api/v1/certificates", json=sample_request(), headers=headers, timeout=120)

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(post, urls * 3))
    assert all(r.status_code in (200, 201) for r in responses), [r.text for r in responses]
    assert len({r.json()["identifier"] for r in responses}) == 1
    with embedded.database.read() as session:
        assert session.scalar(select(func.count()).where(Certificate.idempotency_key == key)) == 1


def test_licences_issued_through_both_processes_get_consecutive_serials(
    servers: tuple[list[str], subprocess.Popen[bytes]], embedded: ServiceContext
) -> None:
    urls, _ = servers
    _code, issuer, _ = make_department(embedded)

    def post(url: str) -> str:
        response = httpx.post(f"{url}/api/v1/certificates", json=sample_request(), headers=auth(issuer), timeout=120)
        assert response.status_code == 201, response.text
        return str(response.json()["identifier"])

    with ThreadPoolExecutor(8) as pool:
        identifiers = list(pool.map(post, urls * 4))
    serials = sorted(int(i.split(".")[-3][4:]) for i in identifiers)
    assert serials == list(range(1, 9))
