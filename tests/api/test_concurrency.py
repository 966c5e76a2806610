"""Parallel issuing against one SQLite database through a real HTTP server."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from certsvc.domain.identifiers import LicenceIdentifier
from tests.conftest import auth, sample_request

pytestmark = pytest.mark.slow


def test_twenty_parallel_issues_get_twenty_identifiers(server_url: str, ecdsa_key: str) -> None:
    def issue(_: int) -> httpx.Response:
        return httpx.post(f"{server_url}/api/v1/certificates", json=sample_request(), headers=auth(ecdsa_key), timeout=120)

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(issue, range(20)))
    assert [r.status_code for r in responses] == [201] * 20, [r.text for r in responses if r.status_code != 201]
    identifiers = {r.json()["identifier"] for r in responses}
    assert len(identifiers) == 20
    assert len({LicenceIdentifier.parse(i).serial for i in identifiers}) == 20


def test_parallel_retries_with_one_idempotency_key_make_one_licence(server_url: str, ecdsa_key: str) -> None:
    key, body = uuid.uuid4().hex, sample_request()

    def issue(_: int) -> httpx.Response:
        headers = {**auth(ecdsa_key), "Idempotency-Key": key}
        return httpx.post(f"{server_url}/api/v1/certificates", json=body, headers=headers, timeout=120)

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(issue, range(6)))
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["identifier"] for r in responses}) == 1
