"""The local engine: a pool of worker processes on this machine, coordinated through the DB.

Each worker process builds its own handler (and so its own service context, database engine
and loaded seal keys) from the task spec, then loops: claim a few items in one transaction,
process each, record each outcome in its own transaction. Workers never talk to the parent;
the item rows are the only shared state, which is what lets a crash anywhere lose at most the
items in flight and lets a distributed engine replace this one.

The parent takes the job over (refusing if another live runner holds it), starts the workers,
and until they finish: heartbeats the job, reports progress, and notices a cancel. Workers are
started with ``spawn`` (not ``fork``): a forked copy of a process holding SQLAlchemy pools,
threads and locks is unsafe, and each worker loads its keys itself anyway.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import sys
import time
import uuid
from collections.abc import Callable
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
    claim_items,
    ensure_runnable,
    job_progress,
    new_token,
    process_item,
)
from certsvc.storage.database import Database
from certsvc.storage.repositories_batch import BatchRepository

__all__ = ["LocalPoolEngine", "default_workers", "die_with_parent"]

_log = logging.getLogger("certsvc.jobs")


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class LocalPoolEngine:
    """Runs a job in ``workers`` processes (``workers=0``: in this thread, with ``handler``)."""

    def __init__(
        self,
        database: Database,
        *,
        clock: Clock | None = None,
        chunk: int = 8,
        poll_seconds: float = 0.5,
        stale_after_seconds: float = 10.0,
        start_method: str = "spawn",
    ) -> None:
        self.database = database
        self.clock = clock or SystemClock()
        # Small chunks: a crash leaves at most chunk × workers items in flight to do again, and
        # the tail of a job stays balanced between workers. Not too small: a claim (one write
        # and one read transaction, ~1.5 ms) is shared by the chunk's items.
        self.chunk = chunk
        self.poll_seconds = poll_seconds
        self.stale_after_seconds = stale_after_seconds
        self.start_method = start_method

    def run(
        self,
        job_id: int,
        task: TaskSpec,
        *,
        workers: int,
        on_progress: ProgressCallback | None = None,
        handler: ItemHandler | None = None,
    ) -> JobProgress:
        """Run the job's remaining items; returns the final progress.

        Raises:
            NotFoundError: no such job.
            ConflictError: the job is completed, cancelled, or held by a live runner.
        """
        runner_id = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:16]}"
        self._take_over(job_id, runner_id)
        try:
            if workers <= 0:
                self._run_inline(job_id, runner_id, task, handler, on_progress)
            else:
                self._run_pool(job_id, runner_id, task, workers, on_progress)
        except BaseException:
            # Ctrl-C or an error here: hand the in-flight items back and drop the heartbeat, so a
            # resume can start at once instead of waiting for the heartbeat to go stale.
            self._release(job_id, runner_id)
            raise
        return self._finish(job_id, runner_id)

    # --- runner bookkeeping ------------------------------------------------------------------
    def _take_over(self, job_id: int, runner_id: str) -> None:
        now = self.clock.now()
        with self.database.transaction() as session:
            repo = BatchRepository(session)
            job = ensure_runnable(
                repo.job(job_id),
                job_id,
                now=now,
                stale_after_s=self.stale_after_seconds,
                is_runner_alive=_is_local_runner_alive,
            )
            # Whatever is still running belonged to a runner that is gone (checked just above).
            repo.release_running(job_id)
            repo.fail_exhausted(job_id, max_attempts=MAX_ATTEMPTS, now=now)
            counts = repo.counts(job_id)
            job.state = JobState.RUNNING.value
            job.runner_id = runner_id
            job.heartbeat_at = now
            job.started_at = job.started_at or now
            job.run_started_at = now
            job.run_base_finished = sum(counts.get(s, 0) for s in ("done", "skipped", "failed"))

    def _heartbeat(self, job_id: int, runner_id: str) -> tuple[JobProgress, bool]:
        """Refresh the heartbeat; returns the progress and whether this runner still holds the job."""
        now = self.clock.now()
        # One guarded UPDATE under the write lock; the counts are read beside the workers.
        with self.database.transaction() as session:
            holds = BatchRepository(session).touch(job_id, runner_id=runner_id, now=now)
        with self.database.read() as session:
            return job_progress(session, job_id, now=now), holds

    def _release(self, job_id: int, runner_id: str) -> None:
        with contextlib.suppress(Exception), self.database.transaction() as session:
            repo = BatchRepository(session)
            job = repo.job(job_id)
            if job is not None and job.runner_id == runner_id:
                repo.release_running(job_id)
                job.heartbeat_at = None

    def _finish(self, job_id: int, runner_id: str) -> JobProgress:
        now = self.clock.now()
        with self.database.transaction() as session:
            repo = BatchRepository(session)
            job = repo.job(job_id)
            assert job is not None
            if job.runner_id == runner_id and job.state == JobState.RUNNING:
                counts = repo.counts(job_id)
                if counts.get("pending", 0) == 0 and counts.get("running", 0) == 0:
                    job.state = JobState.COMPLETED.value
                    job.finished_at = now
                job.heartbeat_at = None  # stopped; a resume need not wait
            return job_progress(session, job_id, now=now)

    # --- in this thread ------------------------------------------------------------------------
    def _run_inline(
        self,
        job_id: int,
        runner_id: str,
        task: TaskSpec,
        handler: ItemHandler | None,
        on_progress: ProgressCallback | None,
    ) -> None:
        own = handler is None
        item_handler = handler or task.build()
        last = [0.0]

        def after_chunk() -> bool:
            if time.monotonic() - last[0] >= self.poll_seconds:
                last[0] = time.monotonic()
                progress, holds = self._heartbeat(job_id, runner_id)
                if on_progress is not None:
                    on_progress(progress)
                return holds
            return True

        try:
            work_loop(
                item_handler,
                job_id,
                runner_id,
                clock=self.clock,
                chunk=self.chunk,
                after_chunk=after_chunk,
            )
        finally:
            if own:
                item_handler.close()

    # --- in a pool of processes -------------------------------------------------------------------
    def _run_pool(
        self,
        job_id: int,
        runner_id: str,
        task: TaskSpec,
        workers: int,
        on_progress: ProgressCallback | None,
    ) -> None:
        mp: Any = multiprocessing.get_context(
            self.start_method
        )  # typeshed: BaseContext lacks Process
        finished_before = self._heartbeat(job_id, runner_id)[0].finished
        # A worker that died mid-item (killed, segfault) leaves it running; the next round hands
        # it out again, and MAX_ATTEMPTS bounds how often one item may do that.
        for round_number in range(MAX_ATTEMPTS + 1):
            # After a crash, items are handed out one at a time: the item that kills a worker
            # then takes no innocent neighbour of its chunk down with it (attempts count claims).
            chunk = self.chunk if round_number == 0 else 1
            processes = [
                mp.Process(
                    target=_worker_main,
                    args=(task, job_id, runner_id, chunk, os.getpid()),
                    name=f"certsvc-batch-{job_id}-{i}",
                    daemon=True,
                )
                for i in range(workers)
            ]
            for process in processes:
                process.start()
            try:
                while any(p.is_alive() for p in processes):
                    for p in processes:
                        p.join(timeout=self.poll_seconds / len(processes))
                    progress, holds = self._heartbeat(job_id, runner_id)
                    if on_progress is not None:
                        on_progress(progress)
                    if not holds:
                        # Cancelled (or taken over): workers stop at their next claim.
                        _log.info(
                            "batch job %s: no longer held by this runner; waiting for workers",
                            job_id,
                        )
            finally:
                for p in processes:
                    if p.is_alive():
                        p.terminate()
                    p.join()
            if all(p.exitcode == 0 for p in processes):
                return
            progress, _ = self._heartbeat(job_id, runner_id)
            if progress.finished == finished_before and progress.running == 0:
                # No item got an outcome and none was in hand: the workers cannot start (bad
                # settings, broken install). Retrying would only repeat that; say so instead.
                raise JobEngineError(
                    f"the batch workers of job {job_id} exited ({[p.exitcode for p in processes]}) "
                    "without finishing any item; see the log",
                )
            finished_before = progress.finished
            _log.warning(
                "batch job %s: worker exit codes %s; handing their items out again",
                job_id,
                [p.exitcode for p in processes],
            )
            with self.database.transaction() as session:
                repo = BatchRepository(session)
                job = repo.job(job_id)
                if job is None or job.runner_id != runner_id or job.state != JobState.RUNNING:
                    return
                repo.release_running(job_id)
                repo.fail_exhausted(job_id, max_attempts=MAX_ATTEMPTS, now=self.clock.now())


def work_loop(
    handler: ItemHandler,
    job_id: int,
    runner_id: str,
    *,
    clock: Clock,
    chunk: int,
    after_chunk: Callable[[], bool] | None = None,
) -> int:
    """Claim and process items until none are left, the job is cancelled or taken over.

    Returns the number of items this loop finished.
    """
    database = handler.database
    prepare = getattr(handler, "prepare", None)
    finished = 0
    while True:
        items = claim_items(
            database,
            job_id,
            runner_id=runner_id,
            token=new_token(),
            limit=chunk,
            now=clock.now(),
            prepare=prepare,
        )
        if not items:
            return finished
        for item in items:
            process_item(handler, item, clock=clock)
            finished += 1
        if after_chunk is not None and not after_chunk():
            return finished


def _is_local_runner_alive(runner_id: str) -> bool | None:
    """Whether the runner ``host:pid:nonce`` still runs, if it ran on this machine; else None."""
    host, _, rest = runner_id.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname()[:30] or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    if pid == os.getpid():
        return None  # this process (e.g. the API) runs another thread's job: trust the heartbeat
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return None  # a live process with that pid: maybe the runner, maybe a reused pid


def die_with_parent() -> None:
    """Have the kernel kill this process when its parent dies (Linux; elsewhere nothing)."""
    # Linux: the kernel kills this worker when its parent dies (kill -9 of the CLI), so no
    # orphan keeps working on a job that a resume is about to take over.
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _worker_main(task: TaskSpec, job_id: int, runner_id: str, chunk: int, parent_pid: int) -> None:
    die_with_parent()
    # Ctrl-C is the parent's to handle: it stops the workers and hands their items back.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if os.getppid() != parent_pid:
        return
    logging.basicConfig(level=logging.WARNING)
    handler = task.build()
    try:
        work_loop(
            handler,
            job_id,
            runner_id,
            clock=SystemClock(),
            chunk=chunk,
            after_chunk=lambda: os.getppid() == parent_pid,
        )
    finally:
        handler.close()
