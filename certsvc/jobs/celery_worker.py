"""The Celery engine, working side: what a ``certsvc worker`` process does with a message.

A message names a range of item ids of a job and the runner that dispatched it. The worker
claims the items of that range nobody is working on (pending, or running under a claim older
than the lease: their worker died), runs each through the job kind's handler and records each
outcome under its claim token, exactly as the local engine's workers do. A message for a job
that was cancelled or taken over does nothing; a second delivery of a message finds its items
finished or claimed and does nothing either. So the broker may deliver at least once, in any
order, and each item still gets one outcome.

Each worker process builds a job's handler (service context, database engine, loaded seal
keys) from the job's row and its own settings the first time it sees the job, and keeps the
last few. Beside the worker runs a sweeper process (``CeleryEngine.sweep``): a job whose
messages were lost is dispatched again from its rows.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from certsvc.clock import Clock, SystemClock
from certsvc.errors import JobEngineError
from certsvc.jobs.api import (
    MAX_ATTEMPTS,
    ItemHandler,
    JobState,
    TaskSpec,
    WorkItem,
    new_token,
    process_item,
)
from certsvc.jobs.celery_app import QUEUE, RANGE_TASK, celery_app
from certsvc.jobs.celery_engine import CeleryEngine
from certsvc.jobs.local import die_with_parent
from certsvc.storage.database import Database
from certsvc.storage.repositories_jobs import BatchRepository

__all__ = ["WorkerOptions", "configure_worker", "run_range", "start_worker"]

_log = logging.getLogger("certsvc.jobs")
_KEPT_HANDLERS = 2


@dataclass
class WorkerOptions:
    """What a worker node needs: its own settings, and which handler factory runs which kind.

    ``settings`` is opaque here (the services' ``Settings``); it goes into every ``TaskSpec``
    config as ``settings``, beside ``job_id`` and the job's ``params``.
    """

    settings: Any
    database_url: str
    broker_url: str
    factories: Mapping[str, str]
    lease_seconds: float = 300.0
    stall_seconds: float = 60.0
    chunk: int = 16
    clock: Clock = field(default_factory=SystemClock)


class _WorkerState:
    """Per worker process: the handlers built so far (the pool's processes each have their own)."""

    def __init__(self, options: WorkerOptions) -> None:
        self.options = options
        self.pid = os.getpid()
        self.handlers: OrderedDict[int, ItemHandler] = OrderedDict()
        self._database: Database | None = None

    @property
    def database(self) -> Database:
        if self._database is None:
            self._database = Database(self.options.database_url)
        return self._database

    def handler(self, job_id: int) -> ItemHandler:
        if job_id in self.handlers:
            self.handlers.move_to_end(job_id)
            return self.handlers[job_id]
        with self.database.read() as session:
            job = BatchRepository(session).job(job_id)
            if job is None:
                raise JobEngineError(f"no batch job {job_id}")
            kind, params = job.kind, dict(job.params)
        factory = self.options.factories.get(kind)
        if factory is None:
            raise JobEngineError(f"this worker cannot run batch jobs of kind {kind!r}")
        handler = TaskSpec(
            factory, {"settings": self.options.settings, "job_id": job_id, "params": params}
        ).build()
        self.handlers[job_id] = handler
        while len(self.handlers) > _KEPT_HANDLERS:
            _, oldest = self.handlers.popitem(last=False)
            oldest.close()
        return handler

    def close(self) -> None:
        for handler in self.handlers.values():
            with contextlib.suppress(Exception):
                handler.close()
        self.handlers.clear()
        if self._database is not None:
            self._database.dispose()


_options: WorkerOptions | None = None
_state: _WorkerState | None = None


def _worker_state() -> _WorkerState:
    global _state
    if _options is None:
        raise JobEngineError("this process was not started as a certsvc worker")
    # A pool process forked from the main process starts with no handler of its own.
    if _state is None or _state.pid != os.getpid():
        _state = _WorkerState(_options)
    return _state


def configure_worker(options: WorkerOptions) -> None:
    """Make this process a worker for ``options`` (``start_worker`` does it before it starts)."""
    global _options, _state
    if _state is not None:
        _state.close()
    _options, _state = options, None


def run_range(job_id: int, runner_id: str, first_id: int, last_id: int) -> int:
    """The task: claim and run the free items of ``first_id..last_id``; returns how many it ran."""
    state = _worker_state()
    options = state.options
    with state.database.read() as session:
        if BatchRepository(session).holder(job_id) != (JobState.RUNNING, runner_id):
            return 0  # cancelled, completed or taken over: the message is stale
    handler = state.handler(job_id)
    database = handler.database
    clock = options.clock
    token = new_token()
    now = clock.now()
    with database.transaction() as session:
        repo = BatchRepository(session)
        if repo.holder(job_id) != (JobState.RUNNING, runner_id):
            return 0
        claimed = repo.claim_range(
            job_id,
            first_id=first_id,
            last_id=last_id,
            token=token,
            now=now,
            stale_before=now - timedelta(seconds=options.lease_seconds),
            max_attempts=MAX_ATTEMPTS,
        )
    items = [WorkItem(c.id, c.job_id, c.seq, c.key, c.payload, token, c.attempts) for c in claimed]
    prepare = getattr(handler, "prepare", None)
    if items and prepare is not None:
        with database.read() as session:
            prepare(session, items)
    # A cancel takes effect at the next range, as the local engine's at its next claim: the
    # claim above checked the holder, and a check per item would cost a read per item for
    # nothing (a chunked handler has done the whole range by the time its first item returns).
    for item in items:
        process_item(handler, item, clock=clock)
    with database.transaction() as session:
        repo = BatchRepository(session)
        # A finished range is the job's heartbeat: sweepers leave a job alone while it moves.
        repo.touch(job_id, runner_id=runner_id, now=clock.now())
        repo.complete_if_done(job_id, runner_id=runner_id, now=clock.now())
    return len(items)


def _sweeper_main(options: WorkerOptions, parent_pid: int) -> None:
    """The sweep, in a process of its own next to the Celery worker (spawned, not a thread:
    Celery's pool forks worker processes from the main process at any time, and a fork taken
    while a thread holds a lock — logging's, the import lock, a connection pool's — leaves the
    child waiting on it forever)."""
    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the worker's to handle
    interval = max(0.5, options.stall_seconds / 2)
    database = Database(options.database_url)
    engine = CeleryEngine(
        database,
        broker_url=options.broker_url,
        clock=options.clock,
        lease_seconds=options.lease_seconds,
        stall_seconds=options.stall_seconds,
        chunk=options.chunk,
    )
    while os.getppid() == parent_pid:
        try:
            engine.sweep()
        except Exception:
            _log.exception("the batch sweep failed; trying again in %.0f s", interval)
        time.sleep(interval)
    database.dispose()


def _close_handlers(**_: object) -> None:
    if _state is not None and _state.pid == os.getpid():
        _state.close()


def start_worker(
    options: WorkerOptions, *, concurrency: int, name: str | None = None, loglevel: str = "INFO"
) -> None:
    """Run a Celery worker for batch jobs in this process until it is stopped (SIGTERM: finish
    the items in hand, then exit; SIGKILL: they are claimed again after the lease)."""
    configure_worker(options)
    app = celery_app(options.broker_url, lease_seconds=options.lease_seconds)
    app.task(name=RANGE_TASK)(run_range)

    from celery.signals import worker_process_shutdown

    worker_process_shutdown.connect(_close_handlers, weak=False)

    context: Any = multiprocessing.get_context("spawn")
    sweeper = context.Process(
        target=_sweeper_main, args=(options, os.getpid()), name="certsvc-batch-sweep", daemon=True
    )
    sweeper.start()
    node = name or f"certsvc-{socket.gethostname()}-{os.getpid()}"
    try:
        app.worker_main(
            argv=[
                "worker",
                f"--concurrency={concurrency}",
                f"--queues={QUEUE}",
                f"--hostname={node}@%h",
                f"--loglevel={loglevel}",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ]
        )
    finally:
        sweeper.terminate()
        sweeper.join(timeout=10)
