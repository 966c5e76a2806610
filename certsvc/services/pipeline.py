"""Batch items processed ahead on a few threads, so their TSA round trips overlap.

A batch worker handles its claimed items one after another; with an outside TSA each licence
then waits for two or three round trips (signature time-stamp, GB/T 38540 timeStamp, document
time-stamp) during which the worker does nothing. An item handler's ``prepare`` (called with
each claimed chunk, on any engine) starts the slow, transaction-free part of every item of the
chunk here; ``handle`` then takes its item's result and writes it in its own transaction, in
order, as before. Seal keys sign one message at a time under their own lock
(``crypto.SerialisedKey``), so only the waiting overlaps, never two signatures with one key.

Nothing here is durable: a worker that dies loses the work in flight, whose items the engine
hands out again (an unwritten result leaves at most an unreferenced blob, swept later).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Generic, TypeVar

from certsvc.config import Settings

__all__ = ["ItemPipeline", "pipeline_depth"]

_T = TypeVar("_T")


def pipeline_depth(settings: Settings) -> int:
    """How many items a worker works on at once (``CERTSVC_BATCH_PIPELINE_DEPTH``; automatic:
    an in-process TSA leaves nothing to wait for, an outside one a network round trip)."""
    if settings.batch_pipeline_depth:
        return settings.batch_pipeline_depth
    return 4 if settings.tsa_url is not None or settings.tsa_sm2_url is not None else 1


class ItemPipeline(Generic[_T]):
    """The results of work started ahead, by item id (depth 1: nothing runs ahead)."""

    def __init__(self, depth: int) -> None:
        self._pool = (
            ThreadPoolExecutor(max_workers=depth, thread_name_prefix="certsvc-item")
            if depth > 1
            else None
        )
        self._started: dict[int, Future[_T]] = {}

    def start(self, item_id: int, work: Callable[[], _T]) -> None:
        """Begin ``work`` for an item now, if this pipeline runs anything ahead."""
        if self._pool is not None:
            self._started[item_id] = self._pool.submit(work)

    def result(self, item_id: int, work: Callable[[], _T]) -> _T:
        """The item's result: from the work started ahead (its exception re-raised), else
        ``work`` run now (an engine that did not call ``prepare``)."""
        started = self._started.pop(item_id, None)
        return started.result() if started is not None else work()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._started.clear()
