"""Run one function in several real OS processes at once and collect what each returned.

The processes come from a fork server (not forked from the test process: no inherited
connections, threads or locks; and not spawned: the fork server imports certsvc once, not every
process again), each builds its own ``ServiceContext`` from plain settings like a separate node
would, and they all wait on one barrier before starting, so the work really overlaps.
"""

from __future__ import annotations

import multiprocessing
import queue as queue_module
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from certsvc.config import load_settings
from certsvc.services.context import ServiceContext, build_context
from certsvc.storage.database import Database

__all__ = ["NodeSettings", "node_context", "node_database", "run_in_processes"]

# (home, database URL or None for the home's SQLite file, public URL)
NodeSettings = tuple[str, str | None, str]


def node_context(node: NodeSettings) -> ServiceContext:
    home, database_url, public_url = node
    return build_context(
        load_settings(home=Path(home), database_url=database_url, public_url=public_url, public_rate_limit_per_minute=0),
        migrate=False,
    )


def node_database(node: NodeSettings) -> Database:
    """Only the registry (no templates, keys or blobs): for nodes that only read and write rows."""
    home, database_url, public_url = node
    return Database(load_settings(home=Path(home), database_url=database_url, public_url=public_url).sqlalchemy_url)


def _child(target: Callable[..., Any], index: int, args: tuple[Any, ...], barrier: Any, results: Any) -> None:
    try:
        barrier.wait(timeout=120)
        results.put((index, True, target(*args)))
    except BaseException:  # reported to the parent, which fails the test with it
        results.put((index, False, traceback.format_exc()))


def run_in_processes(target: Callable[..., Any], args_per_process: Sequence[tuple[Any, ...]], *, timeout: float = 300) -> list[Any]:
    """``target(*args)`` in one process per entry, started together; results in entry order."""
    mp: Any = multiprocessing.get_context("forkserver")
    mp.set_forkserver_preload([__name__, target.__module__])
    barrier = mp.Barrier(len(args_per_process))
    results = mp.Queue()
    processes = [
        mp.Process(target=_child, args=(target, i, args, barrier, results), daemon=True)
        for i, args in enumerate(args_per_process)
    ]
    for process in processes:
        process.start()
    collected: dict[int, Any] = {}
    errors: list[str] = []
    try:
        for _ in processes:
            try:
                index, ok, value = results.get(timeout=timeout)
            except queue_module.Empty:
                raise AssertionError(f"a process gave no result in {timeout} s") from None
            if ok:
                collected[index] = value
            else:
                errors.append(value)
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    if errors:
        raise AssertionError("a process failed:\n" + "\n".join(errors))
    return [collected[i] for i in range(len(processes))]
