"""SQLite writers queue on a file lock, and a commit is synced to disk after the lock is let go."""

from __future__ import annotations

import errno
import fcntl
import multiprocessing
import multiprocessing.synchronize
import os
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from certsvc.errors import StorageError
from certsvc.storage.database import Database
from certsvc.storage.orm import Department
from certsvc.storage.writer_lock import WriterLock


def _is_free(path: Path) -> bool:
    """Whether another open file description could take the lock now."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing drops the probe's own lock, if it got it
    return True


def _hold_in_child(path: str, held: multiprocessing.synchronize.Event, release: multiprocessing.synchronize.Event) -> None:
    with WriterLock(Path(path)).hold():
        held.set()
        release.wait(30)


def test_a_second_thread_waits_until_the_first_lets_go(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "db-writer")
    acquired = threading.Event()

    def second() -> None:
        with lock.hold():
            acquired.set()

    with lock.hold():
        thread = threading.Thread(target=second)
        thread.start()
        assert not acquired.wait(0.3)
        assert not _is_free(lock.path)
    assert acquired.wait(10)
    thread.join()
    assert _is_free(lock.path)
    lock.close()


def test_another_process_holding_it_excludes_this_one(tmp_path: Path) -> None:
    path = tmp_path / "db-writer"
    mp = multiprocessing.get_context("spawn")
    held, release = mp.Event(), mp.Event()
    child = mp.Process(target=_hold_in_child, args=(str(path), held, release))
    child.start()
    try:
        assert held.wait(30)
        assert not _is_free(path)
        lock = WriterLock(path)
        acquired = threading.Event()

        def wait_for_it() -> None:
            with lock.hold():
                acquired.set()

        waiter = threading.Thread(target=wait_for_it)
        waiter.start()
        assert not acquired.wait(0.3)
        release.set()
        assert acquired.wait(10)  # the kernel hands the lock over when the child lets go
        waiter.join()
        lock.close()
    finally:
        release.set()
        child.join(30)
    assert child.exitcode == 0


def test_a_nested_hold_in_the_same_thread_does_not_deadlock(tmp_path: Path) -> None:
    lock = WriterLock(tmp_path / "db-writer")
    with lock.hold(), lock.hold():
        assert not _is_free(lock.path)
    assert _is_free(lock.path)
    lock.close()


def test_transactions_hold_the_lock_and_sync_the_wal_after_releasing_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    db.migrate()
    lock_path = tmp_path / "x.sqlite3-writer"
    wal = tmp_path / "x.sqlite3-wal"
    synced: list[tuple[bool, bool]] = []  # (is the WAL, was the lock free) per fdatasync
    real_sync = os.fdatasync

    def spy(fd: int) -> None:
        synced.append((os.path.samefile(f"/proc/self/fd/{fd}", wal), _is_free(lock_path)))
        real_sync(fd)

    monkeypatch.setattr(os, "fdatasync", spy)
    with db.transaction() as session:
        assert not _is_free(lock_path)
        session.add(Department(code="11152500011512829G", name="x", area_code="152500"))
    assert synced == [(True, True)]

    synced.clear()
    with pytest.raises(RuntimeError), db.transaction() as session:
        session.add(Department(code="11152500011512830X", name="y", area_code="152500"))
        session.flush()
        raise RuntimeError("rolled back")
    assert synced == []  # nothing was committed, nothing to sync
    assert _is_free(lock_path)
    with db.read() as session:
        assert session.execute(text("SELECT count(*) FROM departments")).scalar() == 1
    db.dispose()


def test_a_failed_sync_is_a_storage_error_not_a_success(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = Database(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    db.migrate()

    def broken_disk(fd: int) -> None:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "fdatasync", broken_disk)
    with pytest.raises(StorageError), db.transaction() as session:
        session.add(Department(code="11152500011512829G", name="x", area_code="152500"))
    assert _is_free(tmp_path / "x.sqlite3-writer")  # the lock is not left held
    db.dispose()
