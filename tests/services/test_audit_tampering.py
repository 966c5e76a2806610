"""An attacker holding the database rewrites the audit log; verification names the first entry.

Each test performs one tampering of the issue with the chain recomputed as a careful forger
would (every entry's hash made consistent again), and asserts the exact finding.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text

from certsvc.clock import FixedClock
from certsvc.config import load_settings
from certsvc.services.audit import (
    GENESIS_HASH,
    AuditService,
    ChainProblemKind,
    append_audit_event,
    ensure_audit_key,
    entry_hash,
    event_fields,
)
from certsvc.services.audit_witness import read_witness, witness_path
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.dev_pki import ensure_dev_passphrase
from certsvc.storage.orm import AuditEvent

START = datetime(2026, 7, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def ctx(tmp_path: Path) -> Iterator[ServiceContext]:
    context = build_context(load_settings(home=tmp_path, audit_checkpoint_every=1000, audit_checkpoint_seconds=60))
    context.clock = FixedClock(START)  # type: ignore[misc]
    ensure_dev_passphrase(context)
    ensure_audit_key(context)
    yield context
    context.database.dispose()


def _append(ctx: ServiceContext, n: int, prefix: str) -> list[int]:
    ids = []
    for i in range(n):
        with ctx.database.transaction() as session:
            ids.append(
                append_audit_event(session, at=ctx.clock.now(), actor=None, action="test.event", target=f"{prefix}{i}")
            )
    return ids


def _due(ctx: ServiceContext) -> int | None:
    """What an authenticated request does first: a checkpoint when one is due."""
    with ctx.database.transaction() as session:
        made = AuditService(ctx).checkpoint_if_due(session)
    return made.sequence if made else None


def _recompute_chain(ctx: ServiceContext) -> None:
    """The forger's last step: make every entry's hashes consistent again."""
    with ctx.database.transaction() as session:
        prev = GENESIS_HASH
        for event in session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all():
            event.prev_hash = prev
            event.entry_hash = prev = entry_hash(prev, event_fields(event))


def test_checkpoints_come_every_minute_of_activity_numbered_and_chained(ctx: ServiceContext) -> None:
    _append(ctx, 3, "a")
    assert _due(ctx) is None  # three entries, a second old: not yet
    ctx.clock.advance(timedelta(seconds=61))  # type: ignore[attr-defined]
    assert _due(ctx) == 1
    assert _due(ctx) is None  # nothing new since
    _append(ctx, 2, "b")
    ctx.clock.advance(timedelta(seconds=61))  # type: ignore[attr-defined]
    assert _due(ctx) == 2
    records = list(read_witness(ctx.settings.resolved_home))
    assert [r.sequence for r in records] == [1, 2]
    assert [len(r.entries) for r in records] == [3, 2]
    second = json.loads(records[1].message)
    assert second["sequence"] == 2 and second["prev_checkpoint_hash"] != GENESIS_HASH
    assert AuditService(ctx).verify().is_intact


def test_deleting_the_last_entries(ctx: ServiceContext) -> None:
    ids = _append(ctx, 6, "e")
    AuditService(ctx).checkpoint()
    with ctx.database.transaction() as session:
        session.execute(text("DELETE FROM audit_events WHERE id >= :i"), {"i": ids[4]})
        session.execute(text("DELETE FROM audit_checkpoints"))  # and the checkpoint that counted them
    problem = AuditService(ctx).verify().problem
    assert problem is not None
    assert (problem.kind, problem.event_id, problem.position) == (ChainProblemKind.REMOVED, ids[4], 5)


def test_changing_entries_after_the_last_checkpoint_and_recomputing(ctx: ServiceContext) -> None:
    first = _append(ctx, 4, "a")
    AuditService(ctx).checkpoint()
    later = _append(ctx, 4, "b")
    ctx.clock.advance(timedelta(seconds=61))  # type: ignore[attr-defined]
    assert _due(ctx) == 2  # a minute of activity: the later entries are witnessed too
    with ctx.database.transaction() as session:
        session.execute(text("UPDATE audit_events SET target = 'forged' WHERE id IN (:a, :b)"), {"a": later[1], "b": later[3]})
        session.execute(text("DELETE FROM audit_checkpoints WHERE sequence = 2"))  # now "after the last checkpoint"
    _recompute_chain(ctx)
    problem = AuditService(ctx).verify().problem
    assert problem is not None
    assert (problem.kind, problem.event_id, problem.position) == (ChainProblemKind.CHANGED, later[1], len(first) + 2)


def test_deleting_checkpoint_rows_with_a_recomputed_chain(ctx: ServiceContext) -> None:
    ids = _append(ctx, 3, "a")
    AuditService(ctx).checkpoint()
    ids += _append(ctx, 3, "b")
    AuditService(ctx).checkpoint()
    with ctx.database.transaction() as session:
        session.execute(text("UPDATE audit_events SET target = 'forged' WHERE id = :i"), {"i": ids[1]})
        session.execute(text("DELETE FROM audit_checkpoints"))
    _recompute_chain(ctx)
    problem = AuditService(ctx).verify().problem
    assert problem is not None
    assert (problem.kind, problem.event_id, problem.position) == (ChainProblemKind.CHANGED, ids[1], 2)


def test_deleting_a_checkpoint_row_alone(ctx: ServiceContext) -> None:
    _append(ctx, 2, "a")
    AuditService(ctx).checkpoint()
    _append(ctx, 2, "b")
    AuditService(ctx).checkpoint()
    _append(ctx, 2, "c")
    AuditService(ctx).checkpoint()
    with ctx.database.transaction() as session:
        session.execute(text("DELETE FROM audit_checkpoints WHERE sequence = 2"))
    problem = AuditService(ctx).verify().problem
    assert problem is not None and problem.kind is ChainProblemKind.CHECKPOINT_REMOVED
    assert problem.message == "checkpoint 2 is missing (the next one is 3)"
    with ctx.database.transaction() as session:  # the newest one too: only the witness still has it
        session.execute(text("DELETE FROM audit_checkpoints WHERE sequence = 3"))
    problem = AuditService(ctx).verify().problem
    assert problem is not None and problem.kind is ChainProblemKind.CHECKPOINT_REMOVED
    assert problem.message == "checkpoint 2, witnessed outside the database, is missing from it"


def test_the_witness_file_only_grows_and_survives_a_lost_last_line(ctx: ServiceContext) -> None:
    _append(ctx, 2, "a")
    AuditService(ctx).checkpoint()
    path = witness_path(ctx.settings.resolved_home)
    size = path.stat().st_size
    _append(ctx, 1, "b")
    AuditService(ctx).checkpoint()
    assert path.stat().st_size > size
    with path.open("ab") as fh:  # a crash in the middle of writing a line
        fh.write(b'{"sequence":3,"mess')
    assert [r.sequence for r in read_witness(ctx.settings.resolved_home)] == [1, 2]
    assert AuditService(ctx).verify().is_intact


def test_each_checkpoint_is_sent_to_the_witness_url(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[dict[str, object]] = []

    class Witness(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = HTTPServer(("127.0.0.1", 0), Witness)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/witness"
        context = build_context(load_settings(home=tmp_path, audit_witness_url=url))
        ensure_dev_passphrase(context)
        ensure_audit_key(context)
        _append(context, 2, "a")
        AuditService(context).checkpoint()
        assert [r["sequence"] for r in received] == [1]
        assert received[0] == json.loads(next(read_witness(context.settings.resolved_home)).to_json())
        context.database.dispose()
    finally:
        server.shutdown()
