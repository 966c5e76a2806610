"""A queue for SQLite's one writer that wakes the next writer at once.

SQLite lets one connection write at a time. A connection that finds the write lock taken
waits in SQLite's busy handler, which *polls*: it sleeps 1, 2, 5, 10, 15, 20, 25 … ms between
attempts. Write transactions here are short (a version bump, one insert, one audit entry: about a
millisecond), so a waiter typically sleeps several times longer than the lock was held, and two
batch workers spend a good part of their time asleep. Taking an ``flock`` on a file beside the
database before ``BEGIN IMMEDIATE`` puts writers in a kernel queue instead: the next one runs as
soon as the previous one commits. The busy timeout stays as the safety net for writers that do
not come through here (another program, the ``sqlite3`` shell).

Holding the lock for a whole ``Database.transaction()`` block is the same span as SQLite's own
lock in practice: every block begins with a statement, and slow work is done outside them.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: SQLite's busy handler alone orders writers
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriterLock"]


class WriterLock:
    """Exclusive across the threads of this process and across processes on this machine."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread_lock = threading.Lock()
        self._depth = threading.local()
        self._fd: int | None = None
        self._fd_pid = 0

    def _process_fd(self) -> int:
        # A forked child shares its parent's open file description, and with it the flock:
        # it must open the file again to be a separate holder.
        if self._fd is None or self._fd_pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._fd_pid = os.getpid()
        return self._fd

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        depth = getattr(self._depth, "value", 0)
        if depth or fcntl is None:
            # Nested in a transaction of this thread: the outer one holds the lock. (A nested
            # write transaction still waits on SQLite and fails after the busy timeout, as before.)
            yield
            return
        with self._thread_lock:
            fd = self._process_fd()
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth.value = 1
            try:
                yield
            finally:
                self._depth.value = 0
                fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with self._thread_lock:
            if self._fd is not None and self._fd_pid == os.getpid():
                os.close(self._fd)
            self._fd = None
