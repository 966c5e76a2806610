"""The connector's outbox and the hub's acceptance rules, in one process (two deployments: the
shared one as the 盟 member, a hub in a home of its own). The two as real `certsvc serve`
processes: tests/cluster/test_region_processes.py."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import select

from certsvc.api.app import create_app
from certsvc.crypto import api as crypto
from certsvc.domain.status import LicenceAction
from certsvc.errors import (
    AuthenticationError,
    ConflictError,
    InvalidDocumentError,
    ValidationFailedError,
)
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext
from certsvc.services.hub import HubService
from certsvc.services.hub_queries import HubQueries, LicenceQuery
from certsvc.services.lifecycle import LifecycleService
from certsvc.services.lifecycle_versions import AmendRequest
from certsvc.services.principals import Principal, Role
from certsvc.services.upstream import UpstreamConnector
from certsvc.storage.orm import AuditEvent
from tests.jobs.batch_helpers import OPERATOR, new_seal
from tests.pki import rogue_pki
from tests.region import hub, join, member_of, outbox
from tests.services.helpers import issue_sample, new_issuer, sample_issue_request

__all__ = ["hub", "member_of"]  # fixtures


def test_every_change_is_queued_in_its_transaction_numbered_per_licence(member_of: ServiceContext) -> None:
    member = member_of
    department, issuer = new_issuer(member)
    issued = issue_sample(member, issuer)
    lifecycle = LifecycleService(member, background_webhooks=False)
    lifecycle.change_status(issued.identifier, LicenceAction.SUSPEND, reason="整改", principal=issuer)
    lifecycle.change_status(issued.identifier, LicenceAction.RESUME, reason="整改完成", principal=issuer)
    amended = lifecycle.amend(issued.identifier, AmendRequest(reason="变更经营者", holder_name="锡林浩特市草原乳业有限公司"),
                              principal=issuer)
    seal_id = new_seal(member, department.code, algorithm=crypto.KeyAlgorithm.ECDSA_P256)
    job = BatchService(member).create_resign_job(to_seal_id=seal_id, principal=OPERATOR, reason="key rollover")
    assert BatchService(member).run(job.job_id, principal=OPERATOR, workers=0).done == 1
    lifecycle.change_status(amended.identifier, LicenceAction.REVOKE, reason="吊销", principal=issuer)

    rows = outbox(member, issued.identifier)
    assert [(r.sequence, r.event, r.version) for r in rows] == [
        (1, "issue", 1), (2, "suspend", 1), (3, "resume", 1), (4, "amend", 2), (5, "resign", 3), (6, "revoke", 3)
    ]
    assert [r.status for r in rows] == ["pending"] * 6
    assert len({r.delivery_id for r in rows}) == 6
    body = json.loads(UpstreamConnector(member).payload(rows[3].row_id))
    assert body["licence"]["identifier"] == amended.identifier and body["licence"]["status"] == "valid"
    assert body["metadata"]["identifier"] == amended.identifier
    assert body["metadata"]["holder_name"] == "锡林浩特市草原乳业有限公司"
    assert body["metadata"]["issuer_code"] == department.code
    assert json.loads(UpstreamConnector(member).payload(rows[4].row_id))["licence"]["status"] == "valid"  # resign keeps it


def test_no_hub_configured_queues_nothing(embedded: ServiceContext) -> None:
    assert embedded.settings.upstream_url is None
    _department, issuer = new_issuer(embedded)
    issued = issue_sample(embedded, issuer)
    assert outbox(embedded, issued.identifier) == []


def test_hub_applies_each_change_once_in_order_and_answers_for_the_member(member_of: ServiceContext, hub: ServiceContext) -> None:
    member = member_of
    registered = HubService(hub).add_member("xilingol")
    join(member, registered)
    department, issuer = new_issuer(member)
    issued = issue_sample(member, issuer)
    LifecycleService(member, background_webhooks=False).change_status(
        issued.identifier, LicenceAction.SUSPEND, reason="整改", principal=issuer
    )
    connector = UpstreamConnector(member)
    first, second = (connector.payload(r.row_id) for r in outbox(member, issued.identifier))
    service = HubService(hub)

    with pytest.raises(ConflictError) as early:
        service.receive(registered.credential, second)
    assert early.value.code == "out_of_order" and early.value.details == {"expected_sequence": 1}
    with pytest.raises(AuthenticationError):
        service.receive("chm_1_" + "y" * 43, first)
    received = service.receive(registered.credential, first)
    assert (received.member, received.sequence, received.is_duplicate) == ("xilingol", 1, False)
    assert service.receive(registered.credential, first).is_duplicate  # a retry after a lost answer
    assert not service.receive(registered.credential, second).is_duplicate

    queries = HubQueries(hub)
    window = Principal(client_id=7, name="二连浩特市政务服务窗口", role=Role.SHARING, department_id=None, department_code=None)
    kept = queries.licence(issued.identifier, principal=window, use_cause="办理食品经营许可变更")
    assert (kept.member, kept.status, kept.issuer_code, kept.version) == ("xilingol", "suspended", department.code, 1)
    assert [m.deliveries for m in service.members()] == [2]
    assert queries.search(LicenceQuery(issuer_code=department.code), principal=window, use_cause="核验经营资质") == [kept]
    with pytest.raises(ValidationFailedError):
        queries.search(LicenceQuery(issuer_code=department.code), principal=window, use_cause=" ")
    with pytest.raises(ValidationFailedError):
        queries.search(LicenceQuery(), principal=window, use_cause="核验经营资质")
    with hub.database.read() as session:
        uses = session.scalars(select(AuditEvent).where(AuditEvent.action.in_(["hub.query", "hub.search"]))).all()
        assert [(e.action, e.details["use_cause"]) for e in uses] == [("hub.query", "办理食品经营许可变更"), ("hub.search", "核验经营资质")]

    file = member.blobs.get(issued.sha256)
    verified = queries.verify(file)
    assert verified.member == "xilingol"
    report = verified.report
    assert report.registry is not None and report.registry.department_code == department.code
    assert report.registry.status == "suspended"
    assert "signature_valid" in {r.code for r in report.reasons}
    assert queries.verify(file[:-200] + b"\n%%EOF\n").member is None  # not a delivered file


def test_hub_refuses_files_its_member_roots_do_not_vouch_for(member_of: ServiceContext, hub: ServiceContext) -> None:
    member = member_of
    # Registered with another PKI's root: the member's seals do not chain to it.
    rogue = rogue_pki()
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(rogue.root_der) + b"-----END CERTIFICATE-----\n"
    registered = HubService(hub).add_member("impostor", trust_roots_pem=pem)
    join(member, registered)
    _department, issuer = new_issuer(member)
    issued = issue_sample(member, issuer)
    body = json.loads(UpstreamConnector(member).payload(outbox(member, issued.identifier)[0].row_id))
    with pytest.raises(InvalidDocumentError) as untrusted:
        HubService(hub).receive(registered.credential, json.dumps(body).encode())
    assert untrusted.value.code == "seal_not_trusted"

    honest = HubService(hub).add_member("honest")  # roots pinned from the first delivery
    file = bytearray(base64.b64decode(body["file"]["content_base64"]))
    metadata_at = file.find(b"<dzzz:")
    changed = dict(body["metadata"], holder_name="别人")
    with pytest.raises(ValidationFailedError) as lying:
        HubService(hub).receive(honest.credential, json.dumps({**body, "metadata": changed}).encode())
    assert lying.value.code == "metadata_mismatch"
    file[metadata_at // 2] ^= 0x01  # one byte of the sealed revision
    import hashlib

    tampered = {**body, "file": {"sha256": hashlib.sha256(file).hexdigest(), "content_base64": base64.b64encode(file).decode()}}
    with pytest.raises(InvalidDocumentError):
        HubService(hub).receive(honest.credential, json.dumps(tampered).encode())
    assert HubService(hub).receive(honest.credential, json.dumps(body).encode()).sequence == 1


@pytest.fixture
def hub_url(hub: ServiceContext) -> Iterator[str]:
    server = uvicorn.Server(uvicorn.Config(create_app(hub), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=10)


def test_failed_deliveries_are_visible_and_replayed_in_order(member_of: ServiceContext, hub: ServiceContext, hub_url: str) -> None:
    member = member_of
    member.settings.upstream_max_attempts = 2
    registered = HubService(hub).add_member("xilingol")
    join(member, registered)
    _department, issuer = new_issuer(member)
    issued = issue_sample(member, issuer)
    LifecycleService(member, background_webhooks=False).change_status(
        issued.identifier, LicenceAction.CANCEL, reason="申请注销", principal=issuer
    )
    connector = UpstreamConnector(member)
    assert connector.deliver_due() == 0 and connector.deliver_due() == 0  # nothing listens at port 9
    first, second = outbox(member, issued.identifier)
    assert (first.status, first.attempts, second.status, second.attempts) == ("failed", 2, "pending", 0)
    assert first.last_error is not None and "Connection refused" in first.last_error
    status = connector.status()
    assert first.delivery_id in {e.delivery_id for e in status.unfinished if e.status == "failed"}

    member.settings.upstream_url = hub_url
    assert connector.retry([first.delivery_id]) == 1
    connector.deliver_due()
    assert [r.status for r in outbox(member, issued.identifier)] == ["delivered", "delivered"]
    kept = HubQueries(hub).public_status(issued.identifier)
    assert (kept.status, kept.member) == ("cancelled", "xilingol")

    # A refusal is final at once (here: a credential the hub does not know), and says why.
    member.settings.upstream_credential = SecretStr("chm_999_" + "z" * 43)
    _other, other_issuer = new_issuer(member)
    again = issue_sample(member, other_issuer)
    connector.deliver_due()
    (refused,) = outbox(member, again.identifier)
    assert (refused.status, refused.attempts) == ("failed", 1)
    assert refused.last_error is not None and refused.last_error.startswith("HTTP 401 unauthenticated")


class _CountingUpstream:
    """An upstream that answers slowly (so two senders overlap) and counts every delivery id it is sent."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, int, str]] = []  # (delivery id, sequence, identifier base)
        self.lock = threading.Lock()


@pytest.fixture
def counting_upstream() -> Iterator[tuple[_CountingUpstream, str]]:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = _CountingUpstream()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with state.lock:
                state.sent.append((body["delivery_id"], body["sequence"], body["licence"]["identifier_base"]))
            time.sleep(0.05)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_two_senders_at_once_send_each_delivery_once_in_order(
    member_of: ServiceContext, counting_upstream: tuple[_CountingUpstream, str]
) -> None:
    member = member_of
    state, url = counting_upstream
    member.settings.upstream_url = url
    _department, issuer = new_issuer(member)
    lifecycle = LifecycleService(member, background_webhooks=False)
    licences = []
    for number in ("JY21525020100001", "JY21525020100002", "JY21525020100003"):
        fields = {**sample_issue_request().fields, "licence_number": number}
        issued = issue_sample(member, issuer, fields=fields)
        lifecycle.change_status(issued.identifier, LicenceAction.SUSPEND, reason="整改", principal=issuer)
        lifecycle.change_status(issued.identifier, LicenceAction.RESUME, reason="整改完成", principal=issuer)
        licences.append(issued.identifier)
    mine = {row.delivery_id: row for identifier in licences for row in outbox(member, identifier)}

    senders = [threading.Thread(target=UpstreamConnector(member).deliver_due) for _ in range(2)]
    for sender in senders:
        sender.start()
    for sender in senders:
        sender.join(timeout=120)

    ids = [delivery_id for delivery_id, _, _ in state.sent]
    assert len(ids) == len(set(ids)), "a delivery was sent twice"
    assert set(mine) <= set(ids)
    for identifier in licences:
        base = outbox(member, identifier)[0].identifier_base
        assert [seq for _, seq, b in state.sent if b == base] == [1, 2, 3]
        assert [row.status for row in outbox(member, identifier)] == ["delivered"] * 3
