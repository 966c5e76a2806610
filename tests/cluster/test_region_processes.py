"""A 盟 deployment and the regional hub as two real `certsvc serve` processes with homes of their
own: what the 盟 issues and changes arrives at the hub; with the hub down for a while nothing is
lost, nothing arrives twice and each licence's changes keep their order."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from certsvc.config import load_settings
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.embedded_init import init_embedded
from certsvc.services.hub import HubService
from certsvc.services.principals import Role, create_api_client
from certsvc.services.upstream import UpstreamConnector
from certsvc.storage.orm_connector import HubDelivery
from tests.conftest import DatabaseFactory, auth, isolated_env, make_department, sample_request
from tests.servers import free_port

pytestmark = pytest.mark.slow

CERTSVC = Path(sys.executable).parent / "certsvc"
_WHY = {"use_cause": "全区通办：核验经营资质"}


class _Node:
    def __init__(self, env: dict[str, str], port: int) -> None:
        self.env, self.port = env, port
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [str(CERTSVC), "serve", "--port", str(self.port)], env=self.env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
        )
        _wait(lambda: self._healthy(), "serve did not start", timeout=300)

    def _healthy(self) -> bool:
        assert self.process is not None and self.process.poll() is None, self.process and self.process.communicate()[1].decode(errors="replace")
        try:
            return httpx.get(f"{self.url}/healthz", timeout=5).status_code == 200
        except httpx.TransportError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None


def _wait(condition: Callable[[], Any], message: str, *, timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, message
        time.sleep(0.2)


@pytest.fixture
def region(tmp_path: Path, database_factory: DatabaseFactory) -> Iterator[tuple[ServiceContext, _Node, ServiceContext, _Node, str]]:
    member_url, hub_url = database_factory.new_url(), database_factory.new_url()
    hub_ctx = build_context(load_settings(home=tmp_path / "hub", role="hub", database_url=hub_url))
    registered = HubService(hub_ctx).add_member("xilingol")
    member_ctx = build_context(load_settings(home=tmp_path / "member", database_url=member_url))
    init_embedded(member_ctx)
    hub = _Node(
        {**os.environ, **isolated_env(tmp_path / "hub", hub_url, CERTSVC_ROLE="hub")}, free_port()
    )
    member = _Node(
        {
            **os.environ,
            **isolated_env(
                tmp_path / "member", member_url,
                CERTSVC_UPSTREAM_URL=hub.url, CERTSVC_UPSTREAM_CREDENTIAL=registered.credential,
                CERTSVC_UPSTREAM_POLL_SECONDS="0.2", CERTSVC_UPSTREAM_BACKOFF_SECONDS="0.2",
                CERTSVC_UPSTREAM_BACKOFF_MAX_SECONDS="1", CERTSVC_UPSTREAM_MAX_ATTEMPTS="100",
            ),
        },
        free_port(),
    )
    with hub_ctx.database.transaction() as session:
        reader = create_api_client(session, name="hub-reader", role=Role.SHARING, department_id=None).api_key
    try:
        hub.start()
        member.start()
        yield member_ctx, member, hub_ctx, hub, reader
    finally:
        member.stop()
        hub.stop()
        member_ctx.database.dispose()
        hub_ctx.database.dispose()


def test_changes_arrive_at_the_hub_once_and_in_order_across_a_hub_outage(
    region: tuple[ServiceContext, _Node, ServiceContext, _Node, str],
) -> None:
    member_ctx, member, hub_ctx, hub, reader = region
    code, issuer, _ = make_department(member_ctx)
    issued = httpx.post(f"{member.url}/api/v1/certificates", json=sample_request(), headers=auth(issuer), timeout=120)
    assert issued.status_code == 201, issued.text
    identifier = issued.json()["identifier"]

    def at_hub() -> dict[str, Any] | None:
        answer = httpx.get(f"{hub.url}/api/v1/hub/licences/{identifier}", params=_WHY, headers=auth(reader), timeout=10)
        return answer.json() if answer.status_code == 200 else None

    kept = _wait(at_hub, "the issued licence did not reach the hub")
    assert (kept["member"], kept["issuer_code"], kept["status"]) == ("xilingol", code, "valid")
    file = httpx.get(f"{member.url}/api/v1/certificates/{identifier}/pdf", headers=auth(issuer), timeout=30).content
    verified = httpx.post(f"{hub.url}/api/v1/hub/verify", content=file, headers={"Content-Type": "application/pdf"}, timeout=60)
    assert verified.status_code == 200, verified.text
    report = verified.json()
    assert report["member"] == "xilingol" and report["report"]["verdict"] == "valid", report
    assert report["report"]["registry"]["department_code"] == code  # the 盟 issuer, not the hub

    hub.stop()
    base = f"{member.url}/api/v1/certificates"
    for action, body in (("suspend", {"reason": "整改"}), ("resume", {"reason": "整改完成"}),
                         ("amend", {"reason": "变更经营者", "holder_name": "锡林浩特市草原乳业有限公司"})):
        done = httpx.post(f"{base}/{identifier}/{action}", json=body, headers=auth(issuer), timeout=120)
        assert done.status_code == 200, done.text
    current = done.json()["identifier"]
    assert httpx.post(f"{base}/{current}/revoke", json={"reason": "吊销"}, headers=auth(issuer), timeout=60).status_code == 200
    connector = UpstreamConnector(member_ctx)
    # The hub is down: the changes wait, each attempt recorded with its reason.
    waiting = _wait(lambda: [e for e in connector.status().unfinished if e.attempts > 0], "no failed attempt recorded")
    assert all(e.status == "pending" and e.last_error for e in waiting)

    hub.start()
    _wait(lambda: connector.status().counts == {"delivered": 5}, "the changes did not all arrive after the hub came back")
    with hub_ctx.database.read() as session:
        arrived = [(d.sequence, d.event, d.version) for d in session.query(HubDelivery).order_by(HubDelivery.id)]
    assert arrived == [(1, "issue", 1), (2, "suspend", 1), (3, "resume", 1), (4, "amend", 2), (5, "revoke", 2)]
    kept = httpx.get(f"{hub.url}/api/v1/hub/licences/{identifier}", params=_WHY, headers=auth(reader), timeout=10).json()
    assert (kept["identifier"], kept["version"], kept["status"]) == (current, 2, "revoked")
    assert kept["metadata"]["holder_name"] == "锡林浩特市草原乳业有限公司"
    found = httpx.get(f"{hub.url}/api/v1/hub/licences", params={"issuer_code": code, **_WHY}, headers=auth(reader), timeout=10)
    assert [f["identifier"] for f in found.json()] == [current]
