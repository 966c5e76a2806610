"""The Celery engine under faults, for real: Redis, `certsvc worker` processes and the enqueuing
CLI started by the test, on PostgreSQL. Each test breaks something in the middle of an import
job and then counts against the input rows: every row issued exactly once.

The fault is injected once the job has visibly progressed (some items finished), so it lands
mid-job; what a worker holds at that instant varies from run to run, and every case must end
the same way.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from certsvc.jobs.celery_app import RUNNER_PREFIX
from certsvc.jobs.celery_engine import CeleryEngine
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext
from certsvc.storage.orm_batch import BatchJob
from tests.cluster.celery_nodes import (
    CERTSVC,
    FOOD,
    LEASE_SECONDS,
    STALL_SECONDS,
    WorkerProcess,
    assert_each_row_issued_once,
    celery_env,
    import_rows,
    progress,
    wait_for,
)
from tests.conftest import DatabaseFactory
from tests.jobs.batch_helpers import OPERATOR, new_department
from tests.servers import RedisServer

pytestmark = pytest.mark.slow

ROWS = 20
COMPLETION_TIMEOUT = 240.0


@pytest.fixture()
def broker(database_factory: DatabaseFactory) -> Iterator[RedisServer]:
    if not database_factory.is_postgresql:
        pytest.skip("the cluster's fault tests run in the PostgreSQL pass (make test: pytest --db=postgresql)")
    with RedisServer() as server:
        yield server


class Cluster:
    """Workers of one test, all stopped at its end whatever happened."""

    def __init__(self, ctx: ServiceContext, broker: RedisServer, tmp_path: Path) -> None:
        self.ctx = ctx
        self.env = celery_env(ctx, broker.url)
        self.tmp_path = tmp_path
        self.workers: list[WorkerProcess] = []
        self.service = BatchService(
            ctx,
            engine=CeleryEngine(
                ctx.database, broker_url=broker.url, clock=ctx.clock, lease_seconds=LEASE_SECONDS,
                stall_seconds=STALL_SECONDS, chunk=2,
            ),
        )

    def start_worker(self) -> WorkerProcess:
        worker = WorkerProcess(self.env, self.tmp_path / f"worker-{len(self.workers)}.log")
        self.workers.append(worker)
        return worker

    def logs(self) -> str:
        return "\n".join(f"--- worker {i}\n{w.output()}" for i, w in enumerate(self.workers))

    def import_job(self, *, tag: str) -> tuple[int, int, list[str]]:
        department = new_department(self.ctx)
        records = import_rows(self.tmp_path / "records.csv", ROWS, tag=tag)
        created, report = self.service.create_import_job(
            self.tmp_path / "records.csv", template=FOOD, department_code=department.code, principal=OPERATOR
        )
        assert report.valid_rows == ROWS
        return created.job_id, department.id, records

    def wait_finished(self, job_id: int, at_least: int) -> None:
        wait_for(lambda: progress(self.ctx, job_id).finished >= at_least, timeout=COMPLETION_TIMEOUT,
                 what=f"{at_least} finished items", logs=self.logs)

    def wait_completed(self, job_id: int) -> None:
        wait_for(lambda: progress(self.ctx, job_id).state == "completed", timeout=COMPLETION_TIMEOUT,
                 what="the job to complete", logs=self.logs)


@pytest.fixture()
def cluster(embedded: ServiceContext, broker: RedisServer, tmp_path: Path) -> Iterator[Cluster]:
    nodes = Cluster(embedded, broker, tmp_path)
    yield nodes
    for worker in nodes.workers:
        worker.kill()


def test_sigkill_one_of_two_workers_mid_job(cluster: Cluster) -> None:
    first, second = cluster.start_worker(), cluster.start_worker()
    job_id, department_id, records = cluster.import_job(tag="a1")
    cluster.service.submit(job_id, principal=OPERATOR)
    cluster.wait_finished(job_id, 3)
    first.kill()  # its claimed items are orphaned until their lease ends; its messages unacked
    assert progress(cluster.ctx, job_id).finished < ROWS
    cluster.wait_completed(job_id)
    assert second.process.poll() is None
    assert_each_row_issued_once(cluster.ctx, job_id, department_id, records)


def test_redis_restarted_empty_mid_job(cluster: Cluster, broker: RedisServer) -> None:
    cluster.start_worker(), cluster.start_worker()
    job_id, department_id, records = cluster.import_job(tag="b2")
    cluster.service.submit(job_id, principal=OPERATOR)
    cluster.wait_finished(job_id, 3)
    # The broker comes back without a single message: only the item rows know what is left.
    broker.restart(lose_data=True)
    assert progress(cluster.ctx, job_id).finished < ROWS
    cluster.wait_completed(job_id)
    assert "dispatching its items again" in cluster.logs()  # a sweep found the job stalled
    assert_each_row_issued_once(cluster.ctx, job_id, department_id, records)


def test_all_workers_stopped_then_started_later(cluster: Cluster) -> None:
    first, second = cluster.start_worker(), cluster.start_worker()
    job_id, department_id, records = cluster.import_job(tag="c3")
    cluster.service.submit(job_id, principal=OPERATOR)
    cluster.wait_finished(job_id, 3)
    first.terminate(), second.terminate()  # both at once: neither picks up the other's work
    first.stop(), second.stop()
    stopped = progress(cluster.ctx, job_id)
    time.sleep(STALL_SECONDS + 1)
    still = progress(cluster.ctx, job_id)
    assert (still.state, still.finished) == ("running", stopped.finished)  # nobody works on it meanwhile
    assert still.finished < ROWS
    cluster.start_worker(), cluster.start_worker()
    cluster.wait_completed(job_id)
    assert_each_row_issued_once(cluster.ctx, job_id, department_id, records)


def test_enqueuing_process_killed(cluster: Cluster) -> None:
    cluster.start_worker(), cluster.start_worker()
    department = new_department(cluster.ctx)
    records = import_rows(cluster.tmp_path / "records.csv", ROWS, tag="d4")
    cli = subprocess.Popen(
        [str(CERTSVC), "batch", "import", str(cluster.tmp_path / "records.csv"), "--template", FOOD,
         "--department", department.code, "--execute", "--json"],
        env=cluster.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )

    def held_job() -> int | None:
        with cluster.ctx.database.read() as session:
            return session.scalar(
                select(BatchJob.id).where(
                    BatchJob.params["department_code"].as_string() == department.code,
                    BatchJob.runner_id.startswith(RUNNER_PREFIX),
                )
            )

    try:
        wait_for(lambda: held_job() is not None, timeout=COMPLETION_TIMEOUT, what="the CLI to enqueue the job")
        job_id = held_job()
        assert job_id is not None
        cluster.wait_finished(job_id, 1)
        cli.send_signal(signal.SIGKILL)  # the CLI was waiting on the job, showing its progress
        cli.wait(timeout=30)
    finally:
        if cli.poll() is None:
            cli.kill()
    cluster.wait_completed(job_id)
    assert_each_row_issued_once(cluster.ctx, job_id, department.id, records)
