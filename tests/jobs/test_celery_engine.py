"""The Celery engine's parts in this process, with a real Redis: dispatch, claims of ranges,
leases, sweeps, a range run by the worker's task, cancel and the API's enqueue-only path.
(`tests/cluster/test_celery_faults.py` runs real workers and breaks things.)"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from certsvc.api.app import create_app
from certsvc.errors import ConflictError
from certsvc.jobs.api import MAX_ATTEMPTS, job_progress
from certsvc.jobs.celery_app import QUEUE, RUNNER_PREFIX, item_ranges
from certsvc.jobs.celery_engine import CeleryEngine
from certsvc.jobs.celery_worker import WorkerOptions, configure_worker, run_range
from certsvc.jobs.local import LocalPoolEngine
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext
from certsvc.storage.database import Database
from certsvc.storage.orm_batch import BatchItem
from certsvc.storage.repositories_jobs import BatchRepository
from tests.cluster.celery_nodes import FOOD, import_rows
from tests.conftest import auth
from tests.jobs.batch_helpers import OPERATOR, new_department
from tests.jobs.test_local_engine import _Handler, _job, _task
from tests.servers import RedisServer

pytestmark = pytest.mark.slow


def build_handler(config: Mapping[str, Any]) -> _Handler:
    return _Handler(Database(config["settings"].sqlalchemy_url), owns=True)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture()
def engine(embedded: ServiceContext, redis_server: RedisServer) -> Iterator[CeleryEngine]:
    import redis

    redis.Redis.from_url(redis_server.url).flushall()
    yield CeleryEngine(embedded.database, broker_url=redis_server.url, clock=embedded.clock, lease_seconds=30, stall_seconds=5, chunk=3)


def _queued(redis_server: RedisServer) -> list[list[Any]]:
    """The arguments of every message waiting in the batch queue (Celery's Redis message
    format: a JSON envelope around a base64 body of ``[args, kwargs, embed]``)."""
    import redis

    waiting = redis.Redis.from_url(redis_server.url).lrange(QUEUE, 0, -1)
    return [list(json.loads(base64.b64decode(json.loads(m)["body"]))[0]) for m in reversed(waiting)]


def _runner(ctx: ServiceContext, job_id: int) -> str:
    with ctx.database.read() as session:
        job = BatchRepository(session).job(job_id)
        assert job is not None
        return str(job.runner_id)


def test_item_ranges_group_unfinished_ids() -> None:
    assert list(item_ranges([1, 2, 3, 7, 9, 10, 11], chunk=3)) == [(1, 3), (7, 10), (11, 11)]
    assert list(item_ranges([], chunk=3)) == []


def test_submit_holds_the_job_and_dispatches_each_unfinished_item_once(
    embedded: ServiceContext, engine: CeleryEngine, redis_server: RedisServer
) -> None:
    job_id = _job(embedded, ["ok"] * 7)
    progress = engine.submit(job_id)
    assert (progress.state, progress.pending) == ("running", 7)
    runner = _runner(embedded, job_id)
    assert runner.startswith(RUNNER_PREFIX)
    with embedded.database.read() as session:
        ids = [i.id for i in session.query(BatchItem).filter_by(job_id=job_id).order_by(BatchItem.id)]
    assert _queued(redis_server) == [[job_id, runner, ids[0], ids[2]], [job_id, runner, ids[3], ids[5]], [job_id, runner, ids[6], ids[6]]]
    # Submitting again (another node, a resume) dispatches again under the same runner.
    engine.submit(job_id)
    assert _runner(embedded, job_id) == runner and len(_queued(redis_server)) == 6
    # The local engine does not take a job the workers hold while it moves.
    with pytest.raises(ConflictError) as caught:
        LocalPoolEngine(embedded.database, clock=embedded.clock).run(job_id, _task(embedded), workers=0, handler=_Handler(embedded.database, owns=False))
    assert caught.value.code == "job_running"


def test_claim_range_takes_pending_and_stale_items_and_fails_exhausted_ones(embedded: ServiceContext) -> None:
    job_id = _job(embedded, ["ok"] * 4)
    now = embedded.clock.now()
    with embedded.database.transaction() as session:
        items = session.query(BatchItem).filter_by(job_id=job_id).order_by(BatchItem.id).all()
        first, last = items[0].id, items[-1].id
        fresh, stale, exhausted = items[1], items[2], items[3]
        fresh.state, fresh.claim_token, fresh.claimed_at, fresh.attempts = "running", "a" * 32, now, 1
        stale.state, stale.claim_token, stale.claimed_at, stale.attempts = "running", "b" * 32, now - timedelta(minutes=10), 1
        exhausted.state, exhausted.claim_token, exhausted.claimed_at = "running", "c" * 32, now - timedelta(minutes=10)
        exhausted.attempts = MAX_ATTEMPTS
    with embedded.database.transaction() as session:
        claimed = BatchRepository(session).claim_range(
            job_id, first_id=first, last_id=last, token="d" * 32, now=now, stale_before=now - timedelta(minutes=5),
            max_attempts=MAX_ATTEMPTS,
        )
    assert [(c.id, c.attempts) for c in claimed] == [(items[0].id, 1), (stale.id, 2)]
    with embedded.database.read() as session:
        states = {i.id: (i.state, i.error_code) for i in session.query(BatchItem).filter_by(job_id=job_id)}
    assert states[fresh.id] == ("running", None)  # its worker may well be alive: left alone
    assert states[exhausted.id] == ("failed", "worker_crashed")


def test_a_worker_task_runs_its_range_once_and_completes_the_job(embedded: ServiceContext, engine: CeleryEngine) -> None:
    job_id = _job(embedded, ["ok"] * 5 + ["fail"])
    engine.submit(job_id)
    runner = _runner(embedded, job_id)
    configure_worker(
        WorkerOptions(
            settings=embedded.settings, database_url=embedded.settings.sqlalchemy_url, broker_url=engine.broker_url,
            factories={"test": "tests.jobs.test_celery_engine:build_handler"}, lease_seconds=30,
        )
    )
    with embedded.database.read() as session:
        ids = [i.id for i in session.query(BatchItem).filter_by(job_id=job_id).order_by(BatchItem.id)]
    assert run_range(job_id, runner, ids[0], ids[2]) == 3
    assert run_range(job_id, runner, ids[0], ids[2]) == 0  # delivered twice: nothing left to do
    assert run_range(job_id, "celery:someone-else", ids[3], ids[5]) == 0  # a stale runner's message
    with embedded.database.read() as session:
        assert job_progress(session, job_id, now=embedded.clock.now()).state == "running"
    assert run_range(job_id, runner, ids[3], ids[5]) == 3
    with embedded.database.read() as session:
        final = job_progress(session, job_id, now=embedded.clock.now())
    assert (final.state, final.done, final.failed) == ("completed", 5, 1)


def test_a_stalled_job_is_dispatched_again_by_one_sweeper(
    embedded: ServiceContext, engine: CeleryEngine, redis_server: RedisServer
) -> None:
    job_id = _job(embedded, ["ok"] * 4)
    engine.submit(job_id)
    import redis

    redis.Redis.from_url(redis_server.url).delete(QUEUE)  # the broker lost the messages
    assert engine.sweep(job_ids=[job_id]) == []  # not stalled yet: its heartbeat is fresh
    with embedded.database.transaction() as session:
        job = BatchRepository(session).job(job_id)
        assert job is not None
        job.heartbeat_at = embedded.clock.now() - timedelta(seconds=60)
    other = CeleryEngine(embedded.database, broker_url=engine.broker_url, clock=embedded.clock, stall_seconds=5, chunk=3)
    assert engine.sweep(job_ids=[job_id]) == [job_id]
    assert other.sweep(job_ids=[job_id]) == []  # the first sweeper's dispatch counts as the heartbeat
    assert len(_queued(redis_server)) == 2


def test_api_enqueues_without_a_thread_and_any_node_cancels(
    embedded: ServiceContext, engine: CeleryEngine, redis_server: RedisServer, operator_key: str, tmp_path: Path
) -> None:
    department = new_department(embedded)
    import_rows(tmp_path / "records.csv", 3, tag="e5")
    celery_ctx = _with_celery(embedded, redis_server.url)
    before = set(threading.enumerate())
    with TestClient(create_app(celery_ctx)) as node_a, TestClient(create_app(celery_ctx)) as node_b:
        with (tmp_path / "records.csv").open("rb") as fh:
            created = node_a.post(
                "/api/v1/batches", headers=auth(operator_key), files={"file": ("records.csv", fh, "text/csv")},
                data={"kind": "import", "template": FOOD, "department": department.code},
            )
        assert created.status_code == 202, created.text
        job_id = created.json()["id"]
        assert created.json()["state"] == "running"
        assert not [t for t in set(threading.enumerate()) - before if t.name.startswith("certsvc-batch")]
        assert [m[0] for m in _queued(redis_server)] == [job_id]  # the work waits in the broker
        seen = node_b.get(f"/api/v1/batches/{job_id}", headers=auth(operator_key)).json()
        assert (seen["state"], seen["pending"]) == ("running", 3)
        cancelled = node_b.post(f"/api/v1/batches/{job_id}/cancel", headers=auth(operator_key))
        assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    # The message, delivered after the cancel, does nothing.
    configure_worker(
        WorkerOptions(
            settings=embedded.settings, database_url=embedded.settings.sqlalchemy_url, broker_url=engine.broker_url,
            factories={},  # a stale message is dropped before any handler is built
        )
    )
    assert run_range(*_queued(redis_server)[0]) == 0
    after = BatchService(embedded).status(job_id, principal=OPERATOR)
    assert (after.state, after.pending) == ("cancelled", 3)


def _with_celery(ctx: ServiceContext, broker_url: str) -> ServiceContext:
    import dataclasses

    settings = ctx.settings.model_copy(update={"job_engine": "celery", "broker_url": broker_url})
    return dataclasses.replace(ctx, settings=settings)


def test_worker_command_refuses_without_a_broker(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from certsvc_cli.main import app
    from tests.conftest import isolated_env

    env = isolated_env(tmp_path, None)
    refused = CliRunner().invoke(app, ["worker"], env={**env, "CERTSVC_JOB_ENGINE": "local"})
    assert refused.exit_code != 0 and "CERTSVC_JOB_ENGINE=celery" in refused.output
    unusable = CliRunner().invoke(app, ["worker"], env={**env, "CERTSVC_JOB_ENGINE": "celery"})
    assert unusable.exit_code != 0 and "CERTSVC_BROKER_URL" in unusable.output
