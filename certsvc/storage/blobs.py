"""Content-addressed blob store for issued files.

A blob's name is the SHA-256 of its bytes, so a stored file can never silently change and a
second write of the same bytes is free. Writes go to a temporary file in the same directory,
are fsynced and then renamed, so a crash leaves either the whole blob or none of it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol

from certsvc.errors import NotFoundError, StorageError

__all__ = ["BlobStore", "LocalBlobStore"]


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
