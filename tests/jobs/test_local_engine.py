"""The job engine on its own, with a stand-in handler: claiming, outcomes, take-over, crashes."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from certsvc.errors import ConflictError, NotFoundError, ValidationFailedError
from certsvc.jobs.api import (
    MAX_ATTEMPTS,
    ItemOutcome,
    JobProgress,
    TaskSpec,
    WorkItem,
    claim_items,
    job_progress,
    new_token,
)
from certsvc.jobs.local import LocalPoolEngine
from certsvc.services.context import ServiceContext
from certsvc.storage.database import Database
from certsvc.storage.orm_batch import BatchItem, BatchJob
from certsvc.storage.repositories_jobs import BatchRepository

FACTORY = "tests.jobs.test_local_engine:build_handler"


class _Handler:
    """Does what each item's payload says: ok, fail (a CertsvcError), boom (a bug), crash (exit)."""

    def __init__(self, database: Database, *, owns: bool) -> None:
        self._database = database
        self._owns = owns
        self.seen: list[int] = []

    @property
    def database(self) -> Database:
        return self._database

    def handle(self, item: WorkItem) -> ItemOutcome:
        self.seen.append(item.seq)
        action = item.payload["action"]
        if action == "fail":
            raise ValidationFailedError("row is wrong")
        if action == "boom":
            raise RuntimeError("/secret/path leaked?")
        if action == "crash":
            os._exit(3)  # like a segfault or the OOM killer: no outcome recorded
        return ItemOutcome.done({"pid": os.getpid()})

    def close(self) -> None:
        if self._owns:
            self._database.dispose()


def build_handler(config: Mapping[str, Any]) -> _Handler:
    return _Handler(Database(str(config["url"])), owns=True)


def _job(ctx: ServiceContext, actions: list[str]) -> int:
    now = ctx.clock.now()
    with ctx.database.transaction() as session:
        repo = BatchRepository(session)
        job = repo.add_job(
            BatchJob(kind="test", state="pending", params={}, fingerprint=new_token(), created_by="test",
                     created_at=now, total=len(actions), run_base_finished=0)
        )
        repo.add_items([
            {"job_id": job.id, "seq": i + 1, "key": f"k{i}", "payload": {"action": a}, "state": "pending", "attempts": 0}
            for i, a in enumerate(actions)
        ])
        return job.id


def _task(ctx: ServiceContext) -> TaskSpec:
    return TaskSpec(FACTORY, {"url": ctx.settings.sqlalchemy_url})


def test_inline_run_records_every_outcome_and_reports_progress(embedded: ServiceContext) -> None:
    job_id = _job(embedded, ["ok"] * 6 + ["fail", "boom"])
    engine = LocalPoolEngine(embedded.database, clock=embedded.clock, poll_seconds=0)
    handler = _Handler(embedded.database, owns=False)
    seen: list[JobProgress] = []
    final = engine.run(job_id, _task(embedded), workers=0, handler=handler, on_progress=seen.append)
    assert (final.state, final.done, final.failed, final.pending, final.running) == ("completed", 6, 2, 0, 0)
    assert sorted(handler.seen) == list(range(1, 9))  # each item handled once
    assert seen and seen[-1].finished == 8 and final.rate_per_second and final.rate_per_second > 0
    with embedded.database.transaction() as session:
        failed = {r.seq: (r.error_code, r.error_message) for r in BatchRepository(session).failures(job_id)}
    assert failed[7] == ("validation_failed", "row is wrong")
    assert failed[8][0] == "internal_error" and "secret" not in (failed[8][1] or "")
    with pytest.raises(ConflictError):
        engine.run(job_id, _task(embedded), workers=0, handler=handler)  # completed


def test_a_live_runner_is_not_taken_over_but_a_stale_one_is(embedded: ServiceContext) -> None:
    job_id = _job(embedded, ["ok"] * 3)
    now = embedded.clock.now()
    with embedded.database.transaction() as session:
        job = BatchRepository(session).job(job_id)
        assert job is not None
        job.state, job.runner_id, job.heartbeat_at = "running", "elsewhere:1:x", now
    # Another runner claimed one item and then (we pretend) died holding it.
    held = claim_items(embedded.database, job_id, runner_id="elsewhere:1:x", token=new_token(), limit=1, now=now)
    assert len(held) == 1
    engine = LocalPoolEngine(embedded.database, clock=embedded.clock)
    handler = _Handler(embedded.database, owns=False)
    with pytest.raises(ConflictError) as caught:
        engine.run(job_id, _task(embedded), workers=0, handler=handler)
    assert caught.value.code == "job_running"
    with embedded.database.transaction() as session:
        job = BatchRepository(session).job(job_id)
        assert job is not None
        job.heartbeat_at = now - timedelta(minutes=5)
    final = engine.run(job_id, _task(embedded), workers=0, handler=handler)
    assert (final.state, final.done) == ("completed", 3)
    with embedded.database.transaction() as session:
        item = session.get(BatchItem, held[0].id)
        assert item is not None and item.attempts == 2  # handed out again after the take-over


def test_stray_worker_of_a_replaced_runner_can_neither_claim_nor_record(embedded: ServiceContext) -> None:
    job_id = _job(embedded, ["ok"] * 2)
    now = embedded.clock.now()
    with embedded.database.transaction() as session:
        job = BatchRepository(session).job(job_id)
        assert job is not None
        job.state, job.runner_id, job.heartbeat_at = "running", "old:1:x", now - timedelta(minutes=5)
    stale = claim_items(embedded.database, job_id, runner_id="old:1:x", token=new_token(), limit=1, now=now)
    LocalPoolEngine(embedded.database, clock=embedded.clock).run(
        job_id, _task(embedded), workers=0, handler=_Handler(embedded.database, owns=False)
    )
    assert claim_items(embedded.database, job_id, runner_id="old:1:x", token=new_token(), limit=1, now=now) == []
    from certsvc.jobs.api import record_outcome

    with embedded.database.transaction() as session:
        assert record_outcome(session, stale[0], ItemOutcome.failed("late", "too late"), now=now) is False
        assert job_progress(session, job_id, now=now).done == 2


def test_unknown_job(embedded: ServiceContext) -> None:
    with pytest.raises(NotFoundError):
        LocalPoolEngine(embedded.database).run(999_999, _task(embedded), workers=0)


@pytest.mark.slow
def test_process_pool_shares_the_work_and_survives_a_crashing_item(embedded: ServiceContext) -> None:
    job_id = _job(embedded, ["ok"] * 30 + ["crash"] + ["ok"] * 9)
    engine = LocalPoolEngine(embedded.database, clock=embedded.clock, chunk=2, poll_seconds=0.2)
    final = engine.run(job_id, _task(embedded), workers=2)
    assert (final.state, final.done, final.failed, final.total) == ("completed", 39, 1, 40)
    with embedded.database.transaction() as session:
        rows = session.query(BatchItem).filter_by(job_id=job_id).all()
        crashed = next(r for r in rows if r.payload["action"] == "crash")
        pids = {r.result["pid"] for r in rows if r.result}
    assert crashed.error_code == "worker_crashed" and crashed.attempts == MAX_ATTEMPTS
    assert len(pids) >= 2  # more than one worker process did work
    assert os.getpid() not in pids
