"""Webhooks as an operator manages them: the documented receiver, disable, delete, rotate, the log."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from certsvc.services.context import ServiceContext
from certsvc.storage.orm import AuditEvent
from tests.conftest import auth, make_department, sample_request

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _receiver_source() -> str:
    match = re.search(r"<!-- receiver -->\n```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert match, "docs/webhooks.md lost its receiver example"
    return match.group(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(predicate: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class _Recorder:
    """A receiver in the test process that records every request; answers 200 while ``is_up``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.is_up = True
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                recorder.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200 if recorder.is_up else 503)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def recorder() -> Iterator[_Recorder]:
    rec = _Recorder()
    yield rec
    rec.server.shutdown()
    rec.server.server_close()


@pytest.fixture(scope="module")
def issuer_of(embedded: ServiceContext) -> Any:
    return lambda: make_department(embedded)


def _suspend_new_licence(client: TestClient, issuer: str) -> str:
    identifier: str = client.post("/api/v1/certificates", json=sample_request(), headers=auth(issuer)).json()["identifier"]
    response = client.post(f"/api/v1/certificates/{identifier}/suspend", json={"reason": "停业整顿"}, headers=auth(issuer))
    assert response.status_code == 200, response.text
    return identifier


def _deliveries(client: TestClient, operator_key: str, webhook_id: int) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/admin/webhooks/{webhook_id}/deliveries", headers=auth(operator_key))
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def _signed_with(secret: str, headers: dict[str, str], body: bytes) -> bool:
    t, v1 = (part.split("=", 1)[1] for part in headers["x-certsvc-signature"].split(","))
    return hmac.compare_digest(v1, hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest())


@pytest.mark.slow
def test_the_documented_receiver_accepts_a_real_delivery_and_refuses_a_forged_one(
    client: TestClient, embedded: ServiceContext, operator_key: str, tmp_path: Path
) -> None:
    code, issuer, _ = make_department(embedded)
    port = _free_port()
    created = client.post(
        f"/api/v1/admin/departments/{code}/webhooks", json={"url": f"http://127.0.0.1:{port}/"}, headers=auth(operator_key)
    )
    assert created.status_code == 201, created.text
    script = tmp_path / "receiver.py"
    script.write_text(_receiver_source(), encoding="utf-8")
    assert len(_receiver_source().splitlines()) <= 11
    env = {**os.environ, "CERTSVC_WEBHOOK_SECRET": created.json()["secret"], "PORT": str(port)}
    process = subprocess.Popen([sys.executable, str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        _wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0)
        identifier = _suspend_new_licence(client, issuer)
        assert process.stdout is not None
        assert process.stdout.readline().split() == ["certificate.suspend", identifier]
        _wait_for(lambda: _deliveries(client, operator_key, created.json()["id"])[0]["status"] == "delivered")
        (delivery,) = _deliveries(client, operator_key, created.json()["id"])
        assert [a["http_status"] for a in delivery["attempt_log"]] == [204]

        # The same body with a signature made with another secret is refused.
        body = b'{"data": {"identifier": "forged"}, "type": "certificate.revoke"}'
        t = int(time.time())
        forged = hmac.new(b"whsec_guess", f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        answer = httpx.post(f"http://127.0.0.1:{port}/", content=body, headers={"X-Certsvc-Signature": f"t={t},v1={forged}"})
        assert answer.status_code == 400
        assert process.stdout.readline().split() == ["refused", "forged"]
    finally:
        process.kill()
        process.wait()


def test_disabled_webhook_gets_nothing_and_enabled_again_gets_the_next_event(
    client: TestClient, embedded: ServiceContext, operator_key: str, recorder: _Recorder
) -> None:
    code, issuer, _ = make_department(embedded)
    hook = client.post(f"/api/v1/admin/departments/{code}/webhooks", json={"url": recorder.url}, headers=auth(operator_key)).json()
    disabled = client.patch(f"/api/v1/admin/webhooks/{hook['id']}", json={"is_active": False}, headers=auth(operator_key))
    assert disabled.status_code == 200 and disabled.json()["is_active"] is False
    _suspend_new_licence(client, issuer)
    time.sleep(0.3)
    assert recorder.received == [] and _deliveries(client, operator_key, hook["id"]) == []

    enabled = client.patch(f"/api/v1/admin/webhooks/{hook['id']}", json={"is_active": True}, headers=auth(operator_key))
    assert enabled.json()["is_active"] is True
    identifier = _suspend_new_licence(client, issuer)
    _wait_for(lambda: len(recorder.received) == 1)
    assert identifier.encode() in recorder.received[0][1]


def test_rotated_secret_signs_every_later_delivery(
    client: TestClient, embedded: ServiceContext, operator_key: str, recorder: _Recorder
) -> None:
    code, issuer, _ = make_department(embedded)
    hook = client.post(f"/api/v1/admin/departments/{code}/webhooks", json={"url": recorder.url}, headers=auth(operator_key)).json()
    rotated = client.post(f"/api/v1/admin/webhooks/{hook['id']}/rotate-secret", headers=auth(operator_key))
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != hook["secret"]
    _suspend_new_licence(client, issuer)
    _wait_for(lambda: len(recorder.received) == 1)
    headers, body = recorder.received[0]
    assert _signed_with(new_secret, headers, body) and not _signed_with(hook["secret"], headers, body)
    # The listing never shows a secret.
    listed = client.get(f"/api/v1/admin/departments/{code}/webhooks", headers=auth(operator_key)).json()
    assert "secret" not in listed[0] and new_secret not in str(listed)


def test_deleted_webhook_is_gone_with_its_log_and_the_deletion_is_audited(
    client: TestClient, embedded: ServiceContext, operator_key: str, recorder: _Recorder
) -> None:
    code, issuer, _ = make_department(embedded)
    hook = client.post(f"/api/v1/admin/departments/{code}/webhooks", json={"url": recorder.url}, headers=auth(operator_key)).json()
    _suspend_new_licence(client, issuer)
    _wait_for(lambda: bool(_deliveries(client, operator_key, hook["id"])) and _deliveries(client, operator_key, hook["id"])[0]["status"] == "delivered")
    deleted = client.delete(f"/api/v1/admin/webhooks/{hook['id']}", headers=auth(operator_key))
    assert deleted.status_code == 204
    assert client.get(f"/api/v1/admin/departments/{code}/webhooks", headers=auth(operator_key)).json() == []
    for method, path in (("GET", "/deliveries"), ("DELETE", ""), ("POST", "/rotate-secret")):
        gone = client.request(method, f"/api/v1/admin/webhooks/{hook['id']}{path}", headers=auth(operator_key))
        assert gone.status_code == 404 and gone.json()["code"] == "not_found", (method, path)
    _suspend_new_licence(client, issuer)
    time.sleep(0.3)
    assert len(recorder.received) == 1  # nothing more after the deletion
    with embedded.database.read() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.target == f"webhook:{hook['id']}")).all()
    assert "webhook.delete" in actions


def test_webhook_routes_refuse_bad_input(client: TestClient, operator_key: str, ecdsa_key: str) -> None:
    assert client.patch("/api/v1/admin/webhooks/1", json={"is_active": "maybe"}, headers=auth(operator_key)).status_code == 422
    assert client.delete("/api/v1/admin/webhooks/0", headers=auth(operator_key)).status_code == 422
    assert client.delete("/api/v1/admin/webhooks/1", headers=auth(ecdsa_key)).status_code == 403
    assert client.get("/api/v1/admin/webhooks/1/deliveries", params={"cursor": "x"}, headers=auth(operator_key)).json()["code"] == "invalid_cursor"


def test_a_failed_delivery_is_sent_again_on_request(client: TestClient, embedded: ServiceContext, operator_key: str) -> None:
    receiver = _Recorder()
    receiver.is_up = False
    saved = (embedded.settings.webhook_backoff_seconds, embedded.settings.webhook_max_attempts)
    embedded.settings.webhook_backoff_seconds, embedded.settings.webhook_max_attempts = 0.05, 2
    try:
        code, issuer, _ = make_department(embedded)
        hook = client.post(f"/api/v1/admin/departments/{code}/webhooks", json={"url": receiver.url}, headers=auth(operator_key)).json()
        _suspend_new_licence(client, issuer)
        _wait_for(lambda: bool(_deliveries(client, operator_key, hook["id"])) and _deliveries(client, operator_key, hook["id"])[0]["status"] == "failed")
        (failed,) = _deliveries(client, operator_key, hook["id"])
        assert [a["http_status"] for a in failed["attempt_log"]] == [503, 503]

        receiver.is_up = True
        url = f"/api/v1/admin/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver"
        again = client.post(url, headers=auth(operator_key))
        assert again.status_code == 202 and again.json()["status"] == "pending"
        _wait_for(lambda: _deliveries(client, operator_key, hook["id"])[0]["status"] == "delivered")
        (delivered,) = _deliveries(client, operator_key, hook["id"])
        assert [a["http_status"] for a in delivered["attempt_log"]] == [503, 503, 200]
        assert {h["x-certsvc-event-id"] for h, _ in receiver.received} == {failed["event_id"]}

        refused = client.post(url, headers=auth(operator_key))
        assert refused.status_code == 409 and refused.json()["code"] == "delivery_not_failed"
        other = client.post(f"/api/v1/admin/webhooks/{hook['id']}/deliveries/987654321/redeliver", headers=auth(operator_key))
        assert other.status_code == 404
    finally:
        embedded.settings.webhook_backoff_seconds, embedded.settings.webhook_max_attempts = saved
        receiver.server.shutdown()
        receiver.server.server_close()
