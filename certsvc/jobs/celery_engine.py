"""The Celery engine, enqueuing side: take a job over, dispatch its items, watch it finish.

Whoever enqueues (the API, the CLI, any node) marks the job as held by the Celery engine and
publishes its unfinished items as ranges; ``certsvc worker`` processes on any machine claim and
run them (``jobs.celery_worker``). Nothing here runs an item, and nothing a worker needs lives
in this process: it may exit (or be killed) right after ``submit``.

The durable state is the item rows. Messages are only hints, so a job can lose them: a broker
restarted without its data, a publish that failed half way, workers killed with messages in
hand. ``sweep`` finds running jobs where no item finished for ``stall_seconds`` and dispatches
their unfinished items again; claims make the duplicates harmless. Every worker sweeps in the
background, and so does a CLI waiting for its job.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import timedelta
from typing import Any

from certsvc.clock import Clock, SystemClock
from certsvc.errors import JobEngineError
from certsvc.jobs.api import (
    MAX_ATTEMPTS,
    ItemHandler,
    JobProgress,
    JobState,
    ProgressCallback,
    TaskSpec,
    ensure_runnable,
    job_progress,
    new_token,
)
from certsvc.jobs.celery_app import RUNNER_PREFIX, celery_app, item_ranges, publish_ranges
from certsvc.storage.database import Database
from certsvc.storage.repositories_batch import BatchRepository

__all__ = ["CeleryEngine"]

_log = logging.getLogger("certsvc.jobs")
# A local runner heartbeats twice a second; silent this long, it is gone and may be taken over.
_LOCAL_RUNNER_STALE_SECONDS = 10.0


class CeleryEngine:
    """Dispatches jobs to ``certsvc worker`` nodes through the broker at ``broker_url``."""

    def __init__(
        self,
        database: Database,
        *,
        broker_url: str,
        clock: Clock | None = None,
        lease_seconds: float = 300.0,
        stall_seconds: float = 60.0,
        chunk: int = 16,
        poll_seconds: float = 0.5,
    ) -> None:
        self.database = database
        self.broker_url = broker_url
        self.clock = clock or SystemClock()
        self.lease_seconds = lease_seconds
        self.stall_seconds = stall_seconds
        self.chunk = chunk
        self.poll_seconds = poll_seconds
        self._app: Any = None

    @property
    def app(self) -> Any:
        if self._app is None:
            self._app = celery_app(self.broker_url, lease_seconds=self.lease_seconds)
        return self._app

    def submit(self, job_id: int) -> JobProgress:
        """Hand the job to the workers and return at once.

        A job the engine already holds is dispatched again (harmless: claims decide).

        Raises:
            NotFoundError: no such job.
            ConflictError: the job is finished, cancelled, or run by a live local runner.
        """
        now = self.clock.now()
        with self.database.transaction() as session:
            repo = BatchRepository(session)
            job = repo.job(job_id)
            if (
                job is not None
                and job.state == JobState.RUNNING
                and (job.runner_id or "").startswith(RUNNER_PREFIX)
            ):
                runner_id = str(job.runner_id)
                job.heartbeat_at = now
            else:
                job = ensure_runnable(
                    job, job_id, now=now, stale_after_s=_LOCAL_RUNNER_STALE_SECONDS
                )
                # Whatever a local runner left running, it left when it died (checked above).
                repo.release_running(job_id)
                repo.fail_exhausted(job_id, max_attempts=MAX_ATTEMPTS, now=now)
                counts = repo.counts(job_id)
                runner_id = RUNNER_PREFIX + new_token()
                job.state = JobState.RUNNING.value
                job.runner_id = runner_id
                job.heartbeat_at = now
                job.started_at = job.started_at or now
                job.run_started_at = now
                job.run_base_finished = sum(counts.get(s, 0) for s in ("done", "skipped", "failed"))
        try:
            self._dispatch(job_id, runner_id)
        except JobEngineError:
            pass  # logged; the job is held and stalls, so a sweep dispatches it again
        with self.database.transaction() as session:
            repo = BatchRepository(session)
            repo.complete_if_done(
                job_id, runner_id=runner_id, now=self.clock.now()
            )  # a job with nothing left
            return job_progress(session, job_id, now=self.clock.now())

    def run(
        self,
        job_id: int,
        task: TaskSpec,
        *,
        workers: int,
        on_progress: ProgressCallback | None = None,
        handler: ItemHandler | None = None,
    ) -> JobProgress:
        """Submit the job and wait until it is completed or cancelled, reporting progress.

        ``task``, ``workers`` and ``handler`` are the workers' business here: each worker
        builds its handler from the job's row. Stopping the wait (Ctrl-C, a kill) leaves the
        job running on the workers.
        """
        progress = self.submit(job_id)
        last_sweep = time.monotonic()
        while progress.state == JobState.RUNNING:
            if on_progress is not None:
                on_progress(progress)
            time.sleep(self.poll_seconds)
            if time.monotonic() - last_sweep >= self.stall_seconds / 2:
                last_sweep = time.monotonic()
                with contextlib.suppress(JobEngineError):
                    self.sweep(job_ids=[job_id])
            with self.database.read() as session:
                progress = job_progress(session, job_id, now=self.clock.now())
        if on_progress is not None:
            on_progress(progress)
        return progress

    def sweep(self, *, job_ids: list[int] | None = None) -> list[int]:
        """Dispatch again every running Celery job with no finished item for ``stall_seconds``
        (or complete it, when nothing is left); returns the ids dispatched again.

        Several sweepers (every worker runs one) may see the same stalled job: a guarded update
        of its heartbeat lets exactly one of them dispatch it.

        Raises:
            JobEngineError: the broker did not take the messages.
        """
        now = self.clock.now()
        with self.database.read() as session:
            stalled = BatchRepository(session).stalled_jobs(
                runner_prefix=RUNNER_PREFIX, quiet_since=now - timedelta(seconds=self.stall_seconds)
            )
        redone = []
        for job_id, runner_id, heartbeat_at in stalled:
            if job_ids is not None and job_id not in job_ids:
                continue
            with self.database.transaction() as session:
                repo = BatchRepository(session)
                if repo.complete_if_done(job_id, runner_id=runner_id, now=now):
                    continue
                if not repo.take_stalled(job_id, heartbeat_was=heartbeat_at, now=now):
                    continue  # another sweeper took it
            _log.warning(
                "batch job %s: no item finished for %.0f s; dispatching its items again",
                job_id,
                self.stall_seconds,
            )
            self._dispatch(job_id, runner_id)
            redone.append(job_id)
        return redone

    def _dispatch(self, job_id: int, runner_id: str) -> int:
        with self.database.read() as session:
            ranges = list(
                item_ranges(BatchRepository(session).unfinished_ids(job_id), chunk=self.chunk)
            )
        return publish_ranges(self.app, job_id, runner_id, ranges)
