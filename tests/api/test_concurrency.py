"""Parallel issuing against one SQLite database through a real HTTP server."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from certsvc.domain.identifiers import LicenceIdentifier
from certsvc.services.context import ServiceContext
from tests.conftest import auth, make_department, sample_request

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


def test_64_parallel_issues_over_rsa_ecdsa_and_sm2_departments_all_succeed(
    server_url: str, embedded: ServiceContext
) -> None:
    # Three departments, one per signing algorithm, issuing at once: shared fonts (subsetting),
    # shared seal signers and the one SQLite writer all see concurrent use.
    keys = [make_department(embedded, algorithm=a)[1] for a in ("rsa-3072", "ecdsa-p256", "sm2")]
    requests = [sample_request() for _ in range(64)]  # each with a licence number of its own
    for request in requests:
        # Latin letters with composite glyphs (i, j, é) in the text: the case that raced in subsetting.
        request["fields"]["legal_representative"] = "Jiří Émile"

    def issue(i: int) -> httpx.Response:
        return httpx.post(
            f"{server_url}/api/v1/certificates", json=requests[i], headers=auth(keys[i % 3]), timeout=120
        )

    with ThreadPoolExecutor(max_workers=16) as pool:
        responses = list(pool.map(issue, range(64)))
    errors = [(r.status_code, r.text[:200]) for r in responses if r.status_code != 201]
    assert errors == []
    assert len({r.json()["identifier"] for r in responses}) == 64
