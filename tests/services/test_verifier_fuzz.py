"""A bounded fuzz run of the verifiers: 0 crashes, 0 hangs, memory bounded (tests/verifier_fuzz.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from fastapi.testclient import TestClient

from certsvc.services.context import ServiceContext
from tests.conftest import PROJECT_ROOT, auth, sample_request
from tests.verifier_fuzz import MEMORY_LIMIT_BYTES

pytestmark = pytest.mark.slow

_CASES = 60  # PDF mutations; half as many OFD ones
_HANG_SECONDS = 20  # one file taking longer than this counts as a hang


@pytest.fixture(scope="module")
def fuzz_home(client: TestClient, embedded: ServiceContext, ecdsa_key: str, sm2_key: str) -> str:
    seeds = embedded.settings.resolved_home / "fuzz-seeds"
    seeds.mkdir(exist_ok=True)
    for name, key in (("ecdsa", ecdsa_key), ("sm2", sm2_key)):
        identifier = client.post("/api/v1/certificates", json=sample_request(), headers=auth(key)).json()["identifier"]
        pdf = client.get(f"/api/v1/certificates/{identifier}/pdf", headers=auth(key))
        assert pdf.status_code == 200
        (seeds / f"{name}.pdf").write_bytes(pdf.content)
    return str(embedded.settings.resolved_home)


def test_mutated_files_never_crash_hang_or_exhaust_memory(fuzz_home: str) -> None:
    child = subprocess.run(
        [sys.executable, "-m", "tests.verifier_fuzz", fuzz_home, "20261129", str(_CASES)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=_CASES * 3 * _HANG_SECONDS,
    )
    assert child.returncode == 0, child.stderr[-3000:]  # a native crash or MemoryError ends here
    summary: dict[str, Any] = json.loads(child.stdout.strip().splitlines()[-1])
    assert summary["crashes"] == []
    assert summary["cases"] == _CASES + _CASES // 2
    assert summary["slowest_seconds"] < _HANG_SECONDS
    assert summary["max_rss_bytes"] < MEMORY_LIMIT_BYTES
