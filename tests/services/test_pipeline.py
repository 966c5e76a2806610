"""A batch worker with an outside TSA does not wait for one licence's round trips before the
next: the items of a claimed chunk are sealed ahead (services/pipeline.py) and their requests
are in flight together, while one seal key still signs one message at a time.

The outside TSA is this deployment's own built-in TSA behind a small HTTP server that answers
after 150 ms, the latency of a TSA across a network; it records how many requests it holds at
once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from certsvc.crypto import api as crypto
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.pipeline import pipeline_depth
from certsvc.services.verification import VerificationService
from tests.jobs.batch_helpers import OPERATOR, new_department, new_seal
from tests.services.test_batch_resign import _issue_samples, _versions


class _SlowTsa:
    def __init__(self, respond: crypto.TimeStampTransport, *, delay: float) -> None:
        self.in_flight = self.most_in_flight = self.answered = 0
        self._lock = threading.Lock()
        tsa = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with tsa._lock:
                    tsa.in_flight += 1
                    tsa.most_in_flight = max(tsa.most_in_flight, tsa.in_flight)
                time.sleep(delay)
                answer = respond(body)
                with tsa._lock:
                    tsa.in_flight -= 1
                    tsa.answered += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture()
def slow_tsa(embedded: ServiceContext) -> Iterator[_SlowTsa]:
    tsa = _SlowTsa(embedded.built_in_tsa().respond, delay=0.15)
    yield tsa
    tsa.server.shutdown()


def test_a_worker_keeps_several_tsa_requests_in_flight(embedded: ServiceContext, slow_tsa: _SlowTsa) -> None:
    department = new_department(embedded)
    issued = _issue_samples(embedded, department, limit=4)
    to_seal = new_seal(embedded, department.code, algorithm=crypto.KeyAlgorithm.ECDSA_P256)
    remote = build_context(embedded.settings.model_copy(update={"tsa_url": slow_tsa.url}), clock=embedded.clock, migrate=False)
    assert pipeline_depth(remote.settings) == 4  # automatic with an outside TSA
    try:
        service = BatchService(remote)
        created = service.create_resign_job(to_seal_id=to_seal, from_seal_id=department.seal_id, principal=OPERATOR)
        progress = service.run(created.job_id, principal=OPERATOR, workers=0)
    finally:
        remote.database.dispose()
    assert (progress.done, progress.failed) == (4, 0)
    # Each B-LTA licence takes two time-stamps (signature, document), plus the first of each
    # kind once more to measure the token's size; several in flight together, not in a queue.
    assert slow_tsa.answered >= 8
    assert slow_tsa.most_in_flight >= 2
    for certificate_id in issued.certificate_ids:
        imported, resigned = _versions(embedded, certificate_id)
        # Batch import and batch re-sign both make B-LTA licences: a document time-stamp on top.
        for version in (imported, resigned):
            stamp = crypto.newest_timestamp(embedded.blobs.get(version[2]))
            assert stamp is not None and stamp.is_document_timestamp
        report = VerificationService(embedded).verify_pdf(embedded.blobs.get(resigned[2]))
        assert report.verdict.value == "valid", [r.code for r in report.reasons]
