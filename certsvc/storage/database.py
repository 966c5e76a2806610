"""Engine and session factory; migrations run here, never ``create_all``."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.orm import Session, sessionmaker

from certsvc.errors import StorageError
from certsvc.storage.writer_lock import WriterLock

__all__ = ["Database"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the one writer; a generous busy timeout makes concurrent
    # writers queue instead of failing with "database is locked" (``WriterLock`` queues ours).
    # synchronous=NORMAL does not sync the WAL at commit: ``Database.transaction`` does, after
    # the write lock is released (see ``_sync_wal``), so a committed transaction is on disk
    # when ``transaction()`` returns without the fsync holding up the next writer.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


# Execution option that marks a connection as read-only (``Database.read``).
_READ_ONLY = "certsvc_read_only"


def _sqlite_begin_immediate(conn: Any) -> None:
    # pysqlite starts transactions lazily and as DEFERRED; a deferred reader that later writes
    # can deadlock against another writer. BEGIN IMMEDIATE takes the write lock up front, so
    # concurrent transactions serialise (busy_timeout) instead of failing. Read-only sessions
    # (``Database.read``) never write, so they take a plain deferred BEGIN: in WAL mode that
    # is a snapshot read which neither waits for nor blocks the one writer.
    if conn.get_execution_options().get(_READ_ONLY):
        conn.exec_driver_sql("BEGIN")
    else:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sync_wal(wal_path: Path | None) -> None:
    """fsync the WAL after a commit: group commit without holding the write lock.

    In WAL mode a commit appends its frames to the ``-wal`` file with write(); with
    synchronous=NORMAL SQLite leaves them in the page cache, so a power cut could undo the
    newest transactions. Syncing the file here, after the write lock is released, makes
    every frame written so far (ours included) durable before ``transaction()`` returns, and
    lets the next writer commit meanwhile; frames of a later transaction that a power cut
    tears are discarded by WAL recovery without touching ours. The WAL is only rewritten from
    its start after a checkpoint, which (NORMAL) syncs the WAL before and the database file
    after copying. A missing WAL was checkpointed and removed: the database file holds it all.
    """
    if wal_path is None:
        return
    try:
        fd = os.open(wal_path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError("the database could not be synced to disk") from exc
    try:
        os.fdatasync(fd)  # the data and the size; SQLite syncs its WAL the same way
    except OSError as exc:
        # Committed but perhaps not durable: the caller must not report success.
        raise StorageError("the database could not be synced to disk") from exc
    finally:
        os.close(fd)


# Files beside the database that SQLite (or WriterLock) creates and that hold its data.
_SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal", "-writer")


def _owner_only(db_path: Path) -> None:
    """Make the database file, before SQLite does, readable by its owner only (0600).

    It holds holders' personal data and webhook secrets. SQLite gives the ``-wal``, ``-shm``
    and ``-journal`` files it creates the mode of the database file, so creating that one 0600
    covers them; files of an older deployment (0644 under a default umask) are tightened here.
    """
    try:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        # Only a new file is opened here: closing any descriptor of an open database releases
        # every POSIX lock this process holds on it (fcntl semantics), which would let another
        # writer in under a connection of this process and corrupt the file.
        if not db_path.exists():
            with contextlib.suppress(FileExistsError):
                os.close(os.open(db_path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        for suffix in _SQLITE_COMPANIONS:
            companion = Path(f"{db_path}{suffix}")
            if companion.exists() and companion.stat().st_mode & 0o077:
                os.chmod(companion, 0o600)
    except OSError as exc:
        raise StorageError(f"the database file cannot be created: {db_path}") from exc


class Database:
    """Owns the engine; hands out sessions. One per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: Engine = create_engine(
                url,
                connect_args={"check_same_thread": False, "timeout": 30},
                pool_size=20,
                max_overflow=20,
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
            # Let SQLAlchemy, not pysqlite, decide when transactions start.
            event.listen(self.engine, "connect", lambda c, _r: setattr(c, "isolation_level", None))
            event.listen(self.engine, "begin", _sqlite_begin_immediate)
        else:
            # PostgreSQL (psycopg 3): row locks and MVCC do what the writer lock does on SQLite.
            # pre_ping replaces connections a server restart or failover closed; the pool is
            # sized for an API process's threads plus the batch claim loop.
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=30)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._writer_lock: WriterLock | None = None
        db_path = make_url(url).database if self.is_sqlite else None
        self._wal_path: Path | None = None
        if db_path and db_path != ":memory:" and not db_path.startswith("file:"):
            _owner_only(Path(db_path))
            self._writer_lock = WriterLock(Path(db_path + "-writer"))
            self._wal_path = Path(db_path + "-wal")

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration."""
        if self.is_sqlite:
            db_path = self.url.removeprefix("sqlite:///")
            if db_path and db_path != ":memory:":
                Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        cfg.attributes["engine"] = self.engine
        # "heads": feature branches of the schema may each start from an earlier revision.
        command.upgrade(cfg, "heads")

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on any error.

        On a SQLite file, writers queue on a ``WriterLock`` first (see there why), and the
        commit is made durable once the lock is released (``_sync_wal``).
        """
        if self._writer_lock is None:
            with self._sessions() as session, session.begin():
                yield session
            return
        with self._writer_lock.hold(), self._sessions() as session, session.begin():
            yield session
        _sync_wal(self._wal_path)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session: one consistent snapshot, never committed.

        On SQLite it starts with a plain (deferred) BEGIN instead of BEGIN IMMEDIATE, so it does
        not take the write lock: readers run beside the writer (WAL) instead of queueing behind
        it. Writing in it is a bug: use ``transaction()`` for anything that may write (a deferred
        transaction that upgrades to a writer can fail with "database is locked").
        """
        # Closing (not committing) the session ends the transaction with a rollback; objects
        # read stay usable, detached, after the block.
        with self._sessions() as session:
            if self.is_sqlite:
                session.connection(execution_options={_READ_ONLY: True})
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
        if self._writer_lock is not None:
            self._writer_lock.close()
