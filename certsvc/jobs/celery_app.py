"""The Celery application of the batch engine: its settings, and publishing item ranges.

Celery only carries "work on items ``first_id..last_id`` of job J" from whoever enqueues to
whichever worker is free; the item rows decide what is done (``jobs.celery_worker``). So a
message may be lost (a broker restarted without its data), delivered twice (a worker died
before acknowledging it) or late (all workers were stopped): none of that loses or repeats an
item, and a job whose messages were lost is dispatched again from its rows
(``CeleryEngine.sweep``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from typing import Any

from certsvc.errors import JobEngineError

__all__ = [
    "QUEUE",
    "RANGE_TASK",
    "RUNNER_PREFIX",
    "ItemRange",
    "celery_app",
    "item_ranges",
    "publish_ranges",
]

_log = logging.getLogger("certsvc.jobs")

QUEUE = "certsvc.batch"
RANGE_TASK = "certsvc.batch.run_range"
# Runner ids of jobs the Celery engine holds: ``celery:<nonce>``; local runners are ``host:pid:nonce``.
RUNNER_PREFIX = "celery:"

ItemRange = tuple[int, int]  # first and last item id, inclusive


def celery_app(broker_url: str, *, lease_seconds: float) -> Any:
    """A Celery app for ``broker_url`` (Redis), configured for at-least-once delivery."""
    try:
        from celery import Celery
    except ImportError as exc:  # the optional extra
        raise JobEngineError(
            "the Celery engine needs the celery extra: pip install 'certsvc[celery]'"
        ) from exc
    app = Celery("certsvc", broker=broker_url, set_as_current=False)
    app.conf.update(
        # Acknowledge after the work, and give the message back when the worker process dies
        # mid-task: a killed worker's ranges are delivered again, never dropped.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # One message in hand per worker process: a worker that dies holds back little, and a
        # new worker gets a share of the queue at once.
        worker_prefetch_multiplier=1,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        task_default_queue=QUEUE,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker outlives a broker restart
        # An unacknowledged message (its worker died with it) returns to the queue after this
        # long; by then the items it named are past their lease and may be claimed again.
        broker_transport_options={"visibility_timeout": max(60, int(lease_seconds * 2))},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
    )
    return app


def item_ranges(unfinished_ids: Iterable[int], *, chunk: int) -> Iterator[ItemRange]:
    """Consecutive groups of ``chunk`` unfinished ids, as (first, last) id ranges."""
    first = last = None
    count = 0
    for item_id in unfinished_ids:
        if first is None:
            first = item_id
        last = item_id
        count += 1
        if count == chunk:
            yield first, last
            first, count = None, 0
    if first is not None and last is not None:
        yield first, last


def publish_ranges(app: Any, job_id: int, runner_id: str, ranges: Iterable[ItemRange]) -> int:
    """Send one message per range; returns how many were sent.

    Raises:
        JobEngineError: the broker did not take a message (the rows stay the truth: the job is
            dispatched again once it stalls).
    """
    sent = 0
    try:
        with app.producer_or_acquire() as producer:
            for first_id, last_id in ranges:
                app.send_task(
                    RANGE_TASK,
                    args=[job_id, runner_id, first_id, last_id],
                    queue=QUEUE,
                    producer=producer,
                    retry=True,
                    retry_policy={
                        "max_retries": 3,
                        "interval_start": 0.2,
                        "interval_step": 0.5,
                        "interval_max": 1.0,
                    },
                )
                sent += 1
    except Exception as exc:  # kombu's OperationalError and the redis client's errors
        _log.warning(
            "batch job %s: the broker took %s messages, then failed: %s",
            job_id,
            sent,
            type(exc).__name__,
        )
        raise JobEngineError(
            f"the broker did not accept the messages of batch job {job_id}"
        ) from exc
    return sent
