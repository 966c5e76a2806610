"""Webhooks against a real HTTP server on 127.0.0.1: signed, retried with back-off, every attempt recorded."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from fastapi.testclient import TestClient

from certsvc.api.app import create_app
from certsvc.domain.paging import PageRequest
from certsvc.services.context import ServiceContext
from certsvc.services.principals import local_operator
from certsvc.services.webhook_admin import WebhookAdminService
from certsvc.services.webhooks import WebhookService
from tests.conftest import auth, make_department, sample_request


class _Receiver:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.done = threading.Event()


@pytest.fixture
def receiver() -> Iterator[tuple[_Receiver, str]]:
    state = _Receiver(failures=2)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            ok = len(state.received) > state.failures
            self.send_response(200 if ok else 503)
            self.end_headers()
            if ok:
                state.done.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_state_change_is_delivered_signed_after_retries(
    client: TestClient, embedded: ServiceContext, operator_key: str, receiver: tuple[_Receiver, str]
) -> None:
    state, url = receiver
    # Fast retries for the test: the shared settings object is restored afterwards.
    saved = (embedded.settings.webhook_backoff_seconds, embedded.settings.webhook_max_attempts)
    embedded.settings.webhook_backoff_seconds, embedded.settings.webhook_max_attempts = 0.05, 4
    try:
        code, issuer, _ = make_department(embedded)
        hook = client.post(f"/api/v1/admin/departments/{code}/webhooks", json={"url": url}, headers=auth(operator_key))
        assert hook.status_code == 201, hook.text
        secret = hook.json()["secret"]
        ident = client.post("/api/v1/certificates", json=sample_request(), headers=auth(issuer)).json()["identifier"]
        response = client.post(f"/api/v1/certificates/{ident}/suspend", json={"reason": "检查"}, headers=auth(issuer))
        assert response.status_code == 200
        assert state.done.wait(10), "webhook never delivered"
    finally:
        embedded.settings.webhook_backoff_seconds, embedded.settings.webhook_max_attempts = saved

    assert len(state.received) == 3  # two 503s, then success
    headers, body = state.received[-1]
    timestamp, mac = (part.split("=", 1)[1] for part in headers["x-certsvc-signature"].split(","))
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, expected)
    assert {h["x-certsvc-event-id"] for h, _ in state.received} == {headers["x-certsvc-event-id"]}
    assert [h["x-certsvc-delivery-attempt"] for h, _ in state.received] == ["1", "2", "3"]
    assert b'"to_status":"suspended"' in body.replace(b" ", b"")

    deliveries = WebhookAdminService(embedded).deliveries(hook.json()["id"], principal=local_operator(), page=PageRequest()).items
    for _ in range(50):  # the attempt row is written just after the receiver answered
        if deliveries and deliveries[0].status == "delivered":
            break
        threading.Event().wait(0.05)
        deliveries = WebhookAdminService(embedded).deliveries(hook.json()["id"], principal=local_operator(), page=PageRequest()).items
    (delivery,) = deliveries
    assert delivery.status == "delivered" and delivery.attempts == 3
    assert delivery.http_statuses == (503, 503, 200)


def test_events_left_pending_by_a_crash_are_sent_when_the_service_starts(
    client: TestClient, embedded: ServiceContext, operator_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _Receiver(failures=0)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            state.received.append(({}, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()
            state.done.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        code, issuer, _ = make_department(embedded)
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        assert client.post(f"/api/v1/admin/departments/{code}/webhooks", json={"url": url}, headers=auth(operator_key)).status_code == 201
        ident = client.post("/api/v1/certificates", json=sample_request(), headers=auth(issuer)).json()["identifier"]
        # The process "dies" after the commit and before delivering: nothing is sent.
        with monkeypatch.context() as patch:
            patch.setattr(WebhookService, "dispatch", lambda self, ids, background: None)
            assert client.post(f"/api/v1/certificates/{ident}/revoke", json={"reason": "吊销"}, headers=auth(issuer)).status_code == 200
        assert not state.done.wait(0.5)
        with TestClient(create_app(embedded)):  # a restart: the lifespan sends what is pending
            assert state.done.wait(10), "pending webhook not sent at start-up"
        assert b"revoked" in state.received[0][1]
    finally:
        server.shutdown()
        server.server_close()
