"""The audit chain: tampering is found and located; concurrent writers never fork it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text

from certsvc.config import load_settings
from certsvc.domain.paging import PageRequest
from certsvc.services.audit import (
    AUDIT_KEY_REF,
    AuditService,
    ChainProblemKind,
    append_audit_event,
    ensure_audit_key,
)
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.dev_pki import ensure_dev_passphrase
from certsvc.storage.orm import AuditEvent


@pytest.fixture
def ctx(tmp_path: Path, fresh_database_url: str | None) -> Iterator[ServiceContext]:
    """A database of its own: these tests tamper with it."""
    context = build_context(load_settings(home=tmp_path, audit_checkpoint_every=1000, database_url=fresh_database_url))
    ensure_dev_passphrase(context)
    ensure_audit_key(context)
    yield context
    context.database.dispose()


def _append(ctx: ServiceContext, n: int, prefix: str = "e") -> None:
    for i in range(n):
        with ctx.database.transaction() as session:
            append_audit_event(
                session, at=datetime.now(UTC), actor=None, action="test.event", target=f"{prefix}{i}", details={"i": i}
            )


def _ids(ctx: ServiceContext) -> list[int]:
    with ctx.database.read() as session:
        return list(session.scalars(select(AuditEvent.id).order_by(AuditEvent.id)))


def test_intact_chain_verifies(ctx: ServiceContext) -> None:
    _append(ctx, 5)
    AuditService(ctx).checkpoint()
    report = AuditService(ctx).verify()
    assert report.is_intact and report.entries == 5 and report.checkpoints == 1


def test_an_edited_entry_is_found(ctx: ServiceContext) -> None:
    _append(ctx, 6)
    victim = _ids(ctx)[3]
    with ctx.database.transaction() as session:
        session.execute(text("UPDATE audit_events SET target = 'forged' WHERE id = :i"), {"i": victim})
    problem = AuditService(ctx).verify().problem
    assert problem is not None and problem.kind is ChainProblemKind.CHANGED and problem.event_id == victim


def test_a_removed_entry_is_found(ctx: ServiceContext) -> None:
    _append(ctx, 6)
    ids = _ids(ctx)
    with ctx.database.transaction() as session:
        session.execute(text("DELETE FROM audit_events WHERE id = :i"), {"i": ids[2]})
    problem = AuditService(ctx).verify().problem
    assert problem is not None and problem.kind is ChainProblemKind.REMOVED and problem.event_id == ids[3]
    assert str(ids[1]) in problem.message


def test_reordered_entries_are_found(ctx: ServiceContext) -> None:
    _append(ctx, 6)
    ids = _ids(ctx)
    a, b = ids[2], ids[4]
    with ctx.database.transaction() as session:  # swap two rows' places (their ids)
        session.execute(text("UPDATE audit_events SET id = -1 WHERE id = :a"), {"a": a})
        session.execute(text("UPDATE audit_events SET id = :a WHERE id = :b"), {"a": a, "b": b})
        session.execute(text("UPDATE audit_events SET id = :b WHERE id = -1"), {"b": b})
    problem = AuditService(ctx).verify().problem
    assert problem is not None and problem.kind is ChainProblemKind.REORDERED and problem.event_id == a


def test_a_recomputed_chain_and_a_truncated_tail_are_caught_by_checkpoints(ctx: ServiceContext) -> None:
    _append(ctx, 4)
    AuditService(ctx).checkpoint()
    ids = _ids(ctx)
    with ctx.database.transaction() as session:  # drop the newest entries, as a forger might
        session.execute(text("DELETE FROM audit_events WHERE id >= :i"), {"i": ids[2]})
    problem = AuditService(ctx).verify().problem
    # The first entry that is missing, not the checkpoint's last one.
    assert problem is not None and problem.kind is ChainProblemKind.REMOVED
    assert (problem.event_id, problem.position) == (ids[2], 3)


def test_a_forged_checkpoint_is_found(ctx: ServiceContext) -> None:
    _append(ctx, 3)
    AuditService(ctx).checkpoint()
    with ctx.database.transaction() as session:
        session.execute(text("UPDATE audit_checkpoints SET event_count = 2"))
    problem = AuditService(ctx).verify().problem
    assert problem is not None and problem.kind is ChainProblemKind.CHECKPOINT_INVALID


def test_checkpoints_are_made_every_n_entries(tmp_path: Path, fresh_database_url: str | None) -> None:
    context = build_context(load_settings(home=tmp_path, audit_checkpoint_every=3, database_url=fresh_database_url))
    ensure_dev_passphrase(context)
    _append(context, 4)
    with context.database.transaction() as session:
        # the key is made by `certsvc init`, never by the request that finds a checkpoint due
        assert AuditService(context).checkpoint_if_due(session) is None
    assert not context.keys.exists(AUDIT_KEY_REF)
    ensure_audit_key(context)
    with context.database.transaction() as session:
        made = AuditService(context).checkpoint_if_due(session)
    assert made is not None and made.event_count == 4
    with context.database.transaction() as session:
        assert AuditService(context).checkpoint_if_due(session) is None
    assert AuditService(context).verify().is_intact
    context.database.dispose()


def test_eight_concurrent_writers_make_one_unbroken_chain(ctx: ServiceContext) -> None:
    barrier = threading.Barrier(8)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            barrier.wait()
            _append(ctx, 15, prefix=f"w{n}-")
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = AuditService(ctx).verify()
    assert report.is_intact, report.problem
    assert report.entries == 8 * 15
    with ctx.database.read() as session:
        prevs = session.scalars(select(AuditEvent.prev_hash)).all()
    assert len(set(prevs)) == len(prevs)  # no two entries follow the same one: no fork


def test_export_writes_the_range(ctx: ServiceContext) -> None:
    _append(ctx, 3)
    rows = list(AuditService(ctx).export(start=None, end=None, actor=None, page=PageRequest(limit=500)).items)
    assert [r["target"] for r in rows if r["action"] == "test.event"] == ["e0", "e1", "e2"]
    assert all(len(r["entry_hash"]) == 64 for r in rows)
