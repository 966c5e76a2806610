"""``Database.read``: read-only sessions do not take SQLite's write lock."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import text

from certsvc.storage.database import Database


@pytest.fixture
def database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'read.sqlite3'}")
    with db.transaction() as session:
        session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)"))
        session.execute(text("INSERT INTO t (v) VALUES (1)"))
    return db


def test_a_read_runs_beside_a_writer_and_sees_its_snapshot(database: Database) -> None:
    with database.transaction() as writer:
        writer.execute(text("UPDATE t SET v = 2"))  # holds the write lock until the block ends
        started = time.monotonic()
        with database.read() as reader:
            assert reader.scalar(text("SELECT v FROM t")) == 1  # the last committed snapshot
        assert time.monotonic() - started < 1.0  # did not queue behind the writer (busy_timeout 30 s)
    with database.read() as reader:
        assert reader.scalar(text("SELECT v FROM t")) == 2


def test_writers_still_take_the_write_lock_up_front(database: Database) -> None:
    other = Database(database.url)
    other.engine.dispose()
    with database.transaction() as writer:
        writer.execute(text("SELECT 1"))  # BEGIN IMMEDIATE already ran: the lock is held
        conn = other.engine.raw_connection()
        try:
            conn.execute("PRAGMA busy_timeout=0")
            with pytest.raises(Exception, match="locked"):
                conn.execute("BEGIN IMMEDIATE")
        finally:
            conn.close()
    other.dispose()


def test_nothing_written_in_a_read_session_is_kept(database: Database) -> None:
    with database.read() as reader:
        reader.execute(text("UPDATE t SET v = 5"))
    with database.read() as reader:
        assert reader.scalar(text("SELECT v FROM t")) == 1
    database.dispose()
