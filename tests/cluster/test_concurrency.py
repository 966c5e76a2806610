"""Several processes on one registry, as several nodes of a cluster run: serials, idempotency,
the audit chain, batch claims and webhook deliveries stay right when they race.

Runs in the ``--db=postgresql`` pass of the suite: a cluster's nodes share a PostgreSQL
registry (on SQLite one file lock orders every writer, which the rest of the suite covers).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from certsvc.config import load_settings
from certsvc.jobs.api import new_token
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.dev_pki import ensure_dev_passphrase
from certsvc.services.webhook_secrets import seal_secret
from certsvc.services.webhooks import enqueue_event
from certsvc.storage.orm import AuditEvent, Certificate, Department
from certsvc.storage.orm_batch import BatchItem, BatchJob
from certsvc.storage.orm_lifecycle import WebhookDelivery, WebhookEndpoint
from certsvc.storage.repositories_jobs import BatchRepository
from certsvc_cli.main import app
from tests.cluster import nodes
from tests.cluster.parallel import NodeSettings, run_in_processes
from tests.conftest import (
    PUBLIC_URL,
    DatabaseFactory,
    isolated_env,
    make_department,
    sample_request,
)

pytestmark = pytest.mark.slow

PROCESSES = 3


@pytest.fixture(autouse=True)
def _postgresql_only(database_factory: DatabaseFactory) -> None:
    if not database_factory.is_postgresql:
        pytest.skip("cluster concurrency runs in the PostgreSQL pass (make test: pytest --db=postgresql)")


def _node(ctx: ServiceContext) -> NodeSettings:
    return (str(ctx.settings.resolved_home), ctx.settings.database_url, ctx.settings.public_url)


@pytest.fixture
def own(tmp_path: Path, fresh_database_url: str | None) -> Iterator[ServiceContext]:
    """A migrated, empty registry of this test's own."""
    ctx = build_context(load_settings(home=tmp_path, database_url=fresh_database_url, public_url=PUBLIC_URL))
    with ctx.database.transaction() as session:
        session.add(Department(code="11152500011512829G", name="锡林郭勒盟行政审批局", area_code="152500"))
    yield ctx
    ctx.database.dispose()


def _department_id(ctx: ServiceContext) -> int:
    with ctx.database.read() as session:
        return int(session.scalars(select(Department.id)).one())


def test_serials_from_parallel_processes_have_no_duplicate_and_no_gap(own: ServiceContext) -> None:
    per_process = 60
    got = run_in_processes(nodes.allocate_serials, [(_node(own), _department_id(own), per_process)] * PROCESSES)
    every = [n for numbers in got for n in numbers]
    assert sorted(every) == list(range(1, PROCESSES * per_process + 1))
    assert all(numbers == sorted(numbers) for numbers in got)  # each process sees its own in order


def test_licences_issued_from_parallel_processes_get_consecutive_serials(embedded: ServiceContext) -> None:
    code, issuer_key, _ = make_department(embedded)
    per_process = 3
    got = run_in_processes(nodes.issue, [(_node(embedded), issuer_key, sample_request(), per_process, None)] * 3)
    identifiers = [i for batch in got for i in batch]
    serials = sorted(int(i.split(".")[-3][4:]) for i in identifiers)  # …<year><6-digit serial>.<version>.R
    assert serials == list(range(1, 3 * per_process + 1))
    assert len(set(identifiers)) == len(identifiers)
    assert all(code in i for i in identifiers)


def test_one_idempotency_key_sent_by_parallel_processes_gives_one_licence(embedded: ServiceContext) -> None:
    _code, issuer_key, _ = make_department(embedded)
    key = "parallel-" + new_token()
    got = run_in_processes(nodes.issue, [(_node(embedded), issuer_key, sample_request(), 1, key)] * PROCESSES)
    assert len({batch[0] for batch in got}) == 1  # every process was answered with the one licence
    with embedded.database.read() as session:
        assert session.scalar(select(func.count()).where(Certificate.idempotency_key == key)) == 1


def test_audit_appends_from_parallel_processes_keep_one_chain(embedded: ServiceContext) -> None:
    with embedded.database.read() as session:
        before = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    per_process = 40
    prefix = new_token()[:8]
    run_in_processes(nodes.append_audit_events, [(_node(embedded), per_process, f"{prefix}-{i}") for i in range(PROCESSES)])
    with embedded.database.read() as session:
        after = session.scalar(select(func.count()).select_from(AuditEvent)) or 0
    assert after - before >= PROCESSES * per_process
    env = isolated_env(embedded.settings.resolved_home, embedded.settings.database_url, CERTSVC_PUBLIC_URL=PUBLIC_URL)
    verified = CliRunner().invoke(app, ["audit", "verify", "--json"], env=env, catch_exceptions=False)
    assert verified.exit_code == 0, verified.output
    report = json.loads(verified.output)
    assert report["is_intact"] and report["entries"] == after


def test_batch_claims_from_parallel_processes_hand_each_item_out_once(own: ServiceContext) -> None:
    items, runner = 150, "runner-under-test"
    now = own.clock.now()
    with own.database.transaction() as session:
        repo = BatchRepository(session)
        job = repo.add_job(
            BatchJob(kind="test", state="running", runner_id=runner, heartbeat_at=now, params={}, fingerprint=new_token(),
                     created_by="test", created_at=now, total=items, run_base_finished=0)
        )
        repo.add_items([
            {"job_id": job.id, "seq": i + 1, "key": f"k{i}", "payload": {}, "state": "pending", "attempts": 0}
            for i in range(items)
        ])
        job_id = job.id
    got = run_in_processes(nodes.claim_until_empty, [(_node(own), job_id, runner, 3)] * PROCESSES)
    claimed = [i for ids in got for i in ids]
    assert len(claimed) == len(set(claimed)) == items
    assert sum(1 for ids in got if ids) >= 2  # the work really was shared
    with own.database.read() as session:
        attempts = session.scalars(select(BatchItem.attempts).where(BatchItem.job_id == job_id)).all()
    assert set(attempts) == {1}


class _Receiver:
    def __init__(self) -> None:
        self.event_ids: Counter[str] = Counter()
        self.lock = threading.Lock()


@pytest.fixture
def receiver() -> Iterator[tuple[_Receiver, str]]:
    state = _Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            with state.lock:
                state.event_ids[self.headers["X-Certsvc-Event-Id"]] += 1
            threading.Event().wait(0.05)  # a receiver that takes a moment: the senders overlap
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


def test_pending_webhooks_sent_by_parallel_processes_reach_the_receiver_once(
    own: ServiceContext, receiver: tuple[_Receiver, str]
) -> None:
    state, url = receiver
    events = 12
    now = own.clock.now()
    ensure_dev_passphrase(own)  # the key that webhook secrets are encrypted under, shared by the nodes
    with own.database.transaction() as session:
        department_id = session.scalars(select(Department.id)).one()
        secret = seal_secret(own, "s" * 32)  # stored encrypted, as every endpoint's secret is
        session.add(WebhookEndpoint(department_id=department_id, url=url, encrypted_secret=secret, is_active=True, created_at=now))
        session.flush()
        for i in range(events):
            enqueue_event(session, department_id=department_id, event_type="certificate.revoked", data={"i": i}, now=now)
    run_in_processes(nodes.deliver_pending, [(_node(own),)] * PROCESSES)
    assert len(state.event_ids) == events
    assert set(state.event_ids.values()) == {1}, state.event_ids  # no event posted twice
    with own.database.read() as session:
        statuses = session.scalars(select(WebhookDelivery.status)).all()
    assert statuses == ["delivered"] * events
