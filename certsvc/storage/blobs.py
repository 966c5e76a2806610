"""Content-addressed blob stores for issued files: a directory, or the database.

A blob's name is the SHA-256 of its bytes, so a stored file can never silently change and a
second write of the same bytes is free. In a directory (the embedded default, or shared
storage every node mounts), writes go to a temporary file in the same directory, are fsynced
and then renamed, so a crash leaves either the whole blob or none of it. In the database
(a cluster on PostgreSQL), a blob is a row written in its own short transaction, and its hash
is checked again on every read.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from certsvc.errors import NotFoundError, StorageError
from certsvc.storage.database import Database
from certsvc.storage.orm_shared import StoredBlob

__all__ = ["BlobStore", "DatabaseBlobStore", "LocalBlobStore"]


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store ``data``; return its SHA-256 hex digest."""
        ...

    def get(self, sha256: str) -> bytes:
        """Return the blob; ``NotFoundError`` if absent."""
        ...

    def exists(self, sha256: str) -> bool: ...


class LocalBlobStore:
    """Blobs as files under ``root/ab/cd/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise NotFoundError("no such blob")  # also keeps path traversal out
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if path.exists():
            return digest
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # make the rename itself durable
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise StorageError("could not write a blob to the blob store") from exc
        return digest

    def get(self, sha256: str) -> bytes:
        try:
            return self._path(sha256).read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError("stored file is missing") from exc

    def exists(self, sha256: str) -> bool:
        try:
            return self._path(sha256).exists()
        except NotFoundError:
            return False


def _is_digest(sha256: str) -> bool:
    return len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)


class DatabaseBlobStore:
    """Blobs as rows of the ``blobs`` table, reachable by every node of the database.

    A write is its own transaction, as a file write is outside the registry's: a blob without
    a row pointing to it is harmless, a row never points to a missing blob (the blob is
    committed before the row that names it).
    """

    def __init__(self, database: Database) -> None:
        self.database = database

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if self.exists(digest):
            return digest
        try:
            with self.database.transaction() as session:
                session.add(
                    StoredBlob(
                        sha256=digest, size=len(data), data=data, created_at=datetime.now(UTC)
                    )
                )
        except IntegrityError:
            pass  # another process stored the same bytes at the same moment
        return digest

    def get(self, sha256: str) -> bytes:
        if not _is_digest(sha256):
            raise NotFoundError("no such blob")
        with self.database.read() as session:
            data = session.scalar(select(StoredBlob.data).where(StoredBlob.sha256 == sha256))
        if data is None:
            raise NotFoundError("stored file is missing")
        if hashlib.sha256(data).hexdigest() != sha256:
            # Changed in the database behind our back (or a broken disk): never serve it.
            raise StorageError("a stored file failed its integrity check")
        return bytes(data)

    def exists(self, sha256: str) -> bool:
        if not _is_digest(sha256):
            return False
        with self.database.read() as session:
            return (
                session.scalar(select(StoredBlob.sha256).where(StoredBlob.sha256 == sha256))
                is not None
            )
