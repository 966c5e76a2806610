"""Real `certsvc worker` processes and import jobs for the Celery engine tests.

Each worker is started in a session of its own, so a test can SIGKILL the whole worker (its
main process and its pool) as a machine that dies would lose it.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import func, select

from certsvc.jobs.api import JobProgress, job_progress
from certsvc.services.batch_import import import_idempotency_key
from certsvc.services.context import ServiceContext
from certsvc.storage.orm import Certificate, CertificateVersion
from certsvc.storage.orm_batch import BatchItem
from tests.conftest import PUBLIC_URL, TEMPLATES, isolated_env

__all__ = [
    "CERTSVC",
    "FOOD",
    "LEASE_SECONDS",
    "STALL_SECONDS",
    "WorkerProcess",
    "assert_each_row_issued_once",
    "celery_env",
    "import_rows",
    "progress",
    "wait_for",
]

FOOD = "food-business-licence"
CERTSVC = Path(sys.executable).parent / "certsvc"
# Short, so the tests see an orphaned item claimed again and a lost job dispatched again within
# seconds (production: minutes).
LEASE_SECONDS = 4
STALL_SECONDS = 2


def celery_env(ctx: ServiceContext, broker_url: str) -> dict[str, str]:
    """The environment of a node of the shared test deployment that uses the Celery engine."""
    return {
        **os.environ,
        **isolated_env(ctx.settings.resolved_home, ctx.settings.database_url, CERTSVC_PUBLIC_URL=PUBLIC_URL),
        "CERTSVC_JOB_ENGINE": "celery",
        "CERTSVC_BROKER_URL": broker_url,
        "CERTSVC_JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "CERTSVC_JOB_STALL_SECONDS": str(STALL_SECONDS),
        "CERTSVC_JOB_DISPATCH_CHUNK": "2",
        "CERTSVC_PUBLIC_RATE_LIMIT_PER_MINUTE": "0",
    }


class WorkerProcess:
    """``certsvc worker --concurrency 1`` in a session of its own, its output in ``log``."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(CERTSVC), "worker", "--concurrency", "1", "--loglevel", "INFO"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def kill(self) -> None:
        """SIGKILL to the main process and its pool at once: no warm shutdown, no acks."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def terminate(self) -> None:
        """SIGTERM: Celery's warm shutdown (finish the message in hand, then exit); ``stop`` waits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self) -> None:
        self.terminate()
        if self.process.poll() is None:
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.kill()
        # The pool's processes go with their main process; make sure none is left behind.
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def import_rows(path: Path, count: int, *, tag: str) -> list[str]:
    """A CSV of ``count`` food-business records built from the template's sample row; returns
    their record numbers (the idempotency of the import is per record number)."""
    with (TEMPLATES / FOOD / "sample.csv").open(encoding="utf-8") as fh:
        header, sample = list(csv.reader(fh))[:2]
    record, number = header.index("记录号"), header.index("许可证编号")
    rows, records = [header], []
    for i in range(count):
        row = list(sample)
        row[record] = f"FBL-{tag}-{i:05d}"
        row[number] = f"JY2152502{int(tag, 16) % 100:02d}{i:05d}"
        rows.append(row)
        records.append(row[record])
    with path.open("w", encoding="utf-8", newline="") as out:
        csv.writer(out).writerows(rows)
    return records


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str, logs: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}\n{logs()}")
        time.sleep(0.2)


def progress(ctx: ServiceContext, job_id: int) -> JobProgress:
    with ctx.database.read() as session:
        return job_progress(session, job_id, now=ctx.clock.now())


def assert_each_row_issued_once(ctx: ServiceContext, job_id: int, department_id: int, records: list[str]) -> None:
    """0 licences lost and 0 issued twice, counted against the input rows: every item done,
    and for every record exactly one licence with one version."""
    with ctx.database.read() as session:
        states = dict(
            session.execute(
                select(BatchItem.state, func.count()).where(BatchItem.job_id == job_id).group_by(BatchItem.state)
            ).all()
        )
        assert states == {"done": len(records)}, states
        keys = [import_idempotency_key(FOOD, record) for record in records]
        per_key = dict(
            session.execute(
                select(Certificate.idempotency_key, func.count())
                .where(Certificate.department_id == department_id)
                .group_by(Certificate.idempotency_key)
            ).all()
        )
        lost = [k for k in keys if per_key.get(k, 0) == 0]
        twice = {k: n for k, n in per_key.items() if n > 1}
        assert not lost and not twice, (len(lost), twice)
        assert sorted(per_key) == sorted(keys)  # nothing issued that no row asked for
        versions = session.scalar(
            select(func.count())
            .select_from(CertificateVersion)
            .join(Certificate, Certificate.id == CertificateVersion.certificate_id)
            .where(Certificate.department_id == department_id)
        )
        assert versions == len(records)
