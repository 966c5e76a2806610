"""Content-addressed blob stores for issued files: a directory, or the database.

A blob's name is the SHA-256 of its bytes, so a stored file can never silently change and a
second write of the same bytes is free. In a directory (the embedded default, or shared
storage every node mounts), writes go to a temporary file in the same directory, are fsynced
and then renamed, so a crash leaves either the whole blob or none of it. In the database
(a cluster on PostgreSQL), a blob is a row written in its own short transaction. Either way a
blob's hash is checked again on every read.

A blob may also be stored as an *increment*: the name of a base blob plus the bytes that follow
it (``put_increment``). A sealed PDF is its unsigned render plus an incremental update, and
every re-signed version of a licence shares that render, so a re-sign need not write a whole
~190 KB file. Most of the update is the same for every licence a seal seals on a day: the seal
appearance's image and font streams (~65 KB), the validation data. So the increment is cut at
its PDF streams, and every stream of at least ``CHUNK_MIN`` bytes is stored as a blob of its own
(content-addressed, hence written once for the whole batch); the increment record keeps the
other bytes and the names of its chunks (``_Segments``). Reading such a blob rebuilds it
(base + segments) and checks the SHA-256 of the whole file before any byte is returned: a
corrupted base, chunk or increment is a ``StorageError``, never served. Readers cannot tell
the two kinds apart.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from certsvc.errors import NotFoundError, StorageError
from certsvc.storage.database import Database
from certsvc.storage.orm_shared import StoredBlob

__all__ = [
    "CHUNK_MIN",
    "STREAM_CHUNK",
    "BlobStore",
    "CheckedBlob",
    "DatabaseBlobStore",
    "LocalBlobStore",
    "increment_of",
]

STREAM_CHUNK = 64 * 1024
# Streams shorter than this stay inline: a chunk of its own costs a file (or row) and a lookup.
CHUNK_MIN = 4096
_INCREMENT_MAGIC = b"certsvc-increment 1\n"
_INCREMENT_SUFFIX = ".inc"
# A base and a chunk are whole blobs; an increment never names another increment, so a read is
# one level deep whatever the version history.
_INTEGRITY = "a stored file failed its integrity check"
_KNOWN_CHUNKS_MAX = 4096  # chunk names this process stored or saw; bounded, cleared when full


@dataclass(frozen=True, slots=True)
class CheckedBlob:
    """A stored blob whose SHA-256 was checked, handed out in ``STREAM_CHUNK`` pieces.

    The bytes are held whole: the check needs all of them before the first chunk may leave,
    and an issued file is a few hundred kilobytes.
    """

    sha256: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)

    def chunks(self) -> Iterator[bytes]:
        view = memoryview(self.data)
        for start in range(0, len(view), STREAM_CHUNK):
            yield bytes(view[start : start + STREAM_CHUNK])


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store ``data``; return its SHA-256 hex digest."""
        ...

    def put_increment(self, data: bytes, *, base: bytes, base_sha256: str, sync: bool = True) -> str:
        """Store ``data`` as the stored blob ``base_sha256`` (whose bytes the caller holds as
        ``base``) plus the bytes ``data`` appends to it; a ``data`` that does not start with
        ``base`` is stored whole. Return the SHA-256 of ``data``.

        ``sync=False`` leaves the increment record's own flush to a later ``sync`` call, so a
        batch makes a group of them durable at once (group commit); nothing may name the blob
        before that call returns.

        Raises:
            StorageError: the base is not a whole blob of the store, or the write failed.
        """
        ...

    def sync(self, digests: Iterable[str]) -> None:
        """Make blobs written with ``sync=False`` durable (no-op for blobs already durable).

        Raises:
            StorageError: a blob could not be flushed.
        """
        ...

    def get(self, sha256: str) -> bytes:
        """Return the blob (rebuilt if stored as an increment), checked against its SHA-256;
        ``NotFoundError`` if absent, ``StorageError`` if it fails its hash check."""
        ...

    def stream(self, sha256: str) -> CheckedBlob:
        """The blob for a download, rebuilt and checked whole before it is returned, so a
        failed check raises here and never after the first chunk was sent.

        Raises:
            NotFoundError: no such blob.
            StorageError: the blob (or its base or a chunk) fails its hash check.
        """
        ...

    def exists(self, sha256: str) -> bool: ...


def increment_of(data: bytes, base: bytes) -> bytes | None:
    """The bytes ``data`` appends to ``base``, or ``None`` if ``data`` does not start with it."""
    if len(data) <= len(base) or data[: len(base)] != base:
        return None
    return data[len(base) :]


@dataclass(frozen=True, slots=True)
class _Segments:
    """An increment cut at its long PDF streams: inline bytes and chunk names, in file order.

    Encoded as one line per segment (``b <length>`` inline, ``c <sha256> <length>`` a chunk),
    an empty line, then the inline bytes one after another.
    """

    parts: tuple[tuple[str | None, bytes], ...]  # (chunk sha256, bytes) or (None, inline bytes)

    @classmethod
    def cut(cls, increment: bytes) -> _Segments:
        # bytes.find, not a regular expression: a lookbehind regex scanned every byte (~1.6 ms
        # per seal increment, more than the seal's own signature).
        parts: list[tuple[str | None, bytes]] = []
        at = search = 0
        while (keyword := increment.find(b"stream", search)) >= 0:
            search = keyword + 6
            if increment[keyword - 3 : keyword] == b"end":
                continue
            if increment.startswith(b"\r\n", search):
                start = search + 2
            elif increment.startswith(b"\n", search):
                start = search + 1
            else:
                continue
            end = increment.find(b"endstream", start)
            if end < 0:
                break
            search = end + 9
            if end - start >= CHUNK_MIN:
                parts.append((None, increment[at:start]))
                chunk = increment[start:end]
                parts.append((hashlib.sha256(chunk).hexdigest(), chunk))
                at = end
        parts.append((None, increment[at:]))
        return cls(tuple(parts))

    def encode(self) -> bytes:
        lines = [f"c {sha} {len(data)}" if sha else f"b {len(data)}" for sha, data in self.parts]
        inline = b"".join(data for sha, data in self.parts if sha is None)
        return ("\n".join(lines) + "\n\n").encode("ascii") + inline

    @staticmethod
    def join(encoded: bytes, chunk: Callable[[str], bytes]) -> bytes:
        """The increment ``encoded`` stands for, its chunks read with ``chunk``."""
        try:
            index, inline = encoded.split(b"\n\n", 1)
            out: list[bytes] = []
            at = 0
            for line in index.decode("ascii").split("\n"):
                kind, *fields = line.split(" ")
                if kind == "b" and len(fields) == 1:
                    size = int(fields[0])
                    out.append(inline[at : at + size])
                    at += size
                elif kind == "c" and len(fields) == 2 and _is_digest(fields[0]):
                    out.append(chunk(fields[0]))
                else:
                    raise ValueError(line)
        except (ValueError, UnicodeDecodeError) as exc:
            raise StorageError(_INTEGRITY) from exc
        return b"".join(out)

    @property
    def chunks(self) -> list[tuple[str, bytes]]:
        return [(sha, data) for sha, data in self.parts if sha is not None]


def _is_digest(sha256: str) -> bool:
    return len(sha256) == 64 and all(c in "0123456789abcdef" for c in sha256)


def _checked(data: bytes, sha256: str) -> bytes:
    if hashlib.sha256(data).hexdigest() != sha256:
        # Changed behind our back (or a broken disk): never serve it.
        raise StorageError(_INTEGRITY)
    return data


class LocalBlobStore:
    """Blobs as files under ``root/ab/cd/<sha256>``; increments as ``<sha256>.inc`` beside them
    (a header naming the base and the whole size, then the encoded ``_Segments``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._known_chunks: set[str] = set()

    def _path(self, sha256: str) -> Path:
        if not _is_digest(sha256):
            raise NotFoundError("no such blob")  # also keeps path traversal out
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def _write(self, path: Path, parts: tuple[bytes, ...], *, sync: bool = True) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as fh:
                    for part in parts:
                        fh.write(part)
                    fh.flush()
                    if sync:
                        os.fsync(fh.fileno())
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
            if sync:
                _fsync_directory(path.parent)  # make the rename itself durable
        except OSError as exc:
            raise StorageError("could not write a blob to the blob store") from exc

    def sync(self, digests: Iterable[str]) -> None:
        paths = []
        for digest in digests:
            path = self._path(digest)
            if not path.exists():
                path = path.with_name(path.name + _INCREMENT_SUFFIX)
                if not path.exists():
                    raise StorageError("a blob to flush is not in the blob store")
            paths.append(path)
        if not paths:
            return
        try:
            # One syncfs(2) flushes the whole group, data and renames, in one device flush; an
            # fsync per file and per directory costs a flush each (~3-7 ms apiece on this class
            # of disk), which is what limited re-signing.
            if len(paths) > 1 and _syncfs(self.root):
                return
            for path in paths:
                fd = os.open(path, os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            for directory in {path.parent for path in paths}:
                _fsync_directory(directory)
        except OSError as exc:
            raise StorageError("could not flush blobs to the blob store") from exc

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if not path.exists():
            self._write(path, (data,))
        return digest

    def put_increment(self, data: bytes, *, base: bytes, base_sha256: str, sync: bool = True) -> str:
        increment = increment_of(data, base)
        if increment is None:
            return self.put(data)
        digest = hashlib.sha256(data).hexdigest()
        path = self._path(digest)
        if path.exists() or path.with_name(path.name + _INCREMENT_SUFFIX).exists():
            return digest
        base_path = self._path(base_sha256)
        try:
            if base_path.stat().st_size != len(base):
                raise StorageError("the base of an increment is not the stored blob it names")
        except FileNotFoundError as exc:
            raise StorageError("the base of an increment is not a whole stored blob") from exc
        segments = _Segments.cut(increment)
        for sha, chunk in segments.chunks:  # durable before the record that names them
            if sha not in self._known_chunks:
                if not self._path(sha).exists():
                    self._write(self._path(sha), (chunk,))
                _remember(self._known_chunks, sha)
        header = _INCREMENT_MAGIC + f"{base_sha256}\n{len(data)}\n".encode("ascii")
        self._write(path.with_name(path.name + _INCREMENT_SUFFIX), (header, segments.encode()), sync=sync)
        return digest

    def _whole(self, sha256: str, what: str) -> bytes:
        try:
            return self._path(sha256).read_bytes()
        except (FileNotFoundError, NotFoundError) as exc:
            raise StorageError(f"the {what} of a stored file is missing") from exc

    def get(self, sha256: str) -> bytes:
        # Every read is checked, a whole file as much as a rebuilt one: a render changed on disk
        # would otherwise be sealed again by the next re-sign (~0.1 ms for a licence's file).
        path = self._path(sha256)
        try:
            return _checked(path.read_bytes(), sha256)
        except FileNotFoundError:
            pass
        try:
            record = path.with_name(path.name + _INCREMENT_SUFFIX).read_bytes()
        except FileNotFoundError as exc:
            raise NotFoundError("stored file is missing") from exc
        base_sha256, size, encoded = _parse_increment(record)
        base = self._whole(base_sha256, "base")
        increment = _Segments.join(encoded, lambda sha: self._whole(sha, "chunk"))
        if len(base) + len(increment) != size:
            raise StorageError(_INTEGRITY)
        return _checked(base + increment, sha256)

    def stream(self, sha256: str) -> CheckedBlob:
        return CheckedBlob(sha256, self.get(sha256))

    def exists(self, sha256: str) -> bool:
        try:
            path = self._path(sha256)
        except NotFoundError:
            return False
        return path.exists() or path.with_name(path.name + _INCREMENT_SUFFIX).exists()


def _syncfs(directory: Path) -> bool:
    """``syncfs(2)`` on the file system holding ``directory``; False where there is none.

    Raises:
        OSError: the file system reported a write-back error.
    """
    syncfs = getattr(_libc(), "syncfs", None)
    if syncfs is None:
        return False
    fd = os.open(directory, os.O_RDONLY)
    try:
        if syncfs(fd) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
    finally:
        os.close(fd)
    return True


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if sys.platform != "linux":
        return None
    return ctypes.CDLL(None, use_errno=True)


def _fsync_directory(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _remember(known: set[str], sha256: str) -> None:
    if len(known) >= _KNOWN_CHUNKS_MAX:
        known.clear()
    known.add(sha256)


def _parse_increment(record: bytes) -> tuple[str, int, bytes]:
    if not record.startswith(_INCREMENT_MAGIC):
        raise StorageError(_INTEGRITY)
    rest = record[len(_INCREMENT_MAGIC) :]
    try:
        base_line, size_line, increment = rest.split(b"\n", 2)
        base_sha256, size = base_line.decode("ascii"), int(size_line)
    except ValueError as exc:
        raise StorageError(_INTEGRITY) from exc
    if not _is_digest(base_sha256):
        raise StorageError(_INTEGRITY)
    return base_sha256, size, increment


class DatabaseBlobStore:
    """Blobs as rows of the ``blobs`` table, reachable by every node of the database.

    A write is its own transaction, as a file write is outside the registry's: a blob without
    a row pointing to it is harmless, a row never points to a missing blob (the blob is
    committed before the row that names it). An increment is a row whose ``base_sha256`` names
    its base and whose ``data`` holds only the appended bytes.
    """

    def __init__(self, database: Database) -> None:
        self.database = database
        self._known_chunks: set[str] = set()

    def _insert(self, blob: StoredBlob) -> None:
        try:
            with self.database.transaction() as session:
                session.add(blob)
        except IntegrityError:
            pass  # another process stored the same bytes at the same moment

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if not self.exists(digest):
            self._insert(StoredBlob(sha256=digest, size=len(data), data=data, created_at=datetime.now(UTC)))
        return digest

    def put_increment(self, data: bytes, *, base: bytes, base_sha256: str, sync: bool = True) -> str:
        # A row is durable when its transaction commits: ``sync`` has nothing to defer here.
        increment = increment_of(data, base)
        if increment is None:
            return self.put(data)
        digest = hashlib.sha256(data).hexdigest()
        if self.exists(digest):
            return digest
        with self.database.read() as session:
            stored = session.execute(
                select(StoredBlob.size, StoredBlob.base_sha256).where(StoredBlob.sha256 == base_sha256)
            ).one_or_none()
        if stored is None or stored.base_sha256 is not None or stored.size != len(base):
            raise StorageError("the base of an increment is not a whole stored blob")
        segments = _Segments.cut(increment)
        for sha, chunk in segments.chunks:  # committed before the row that names them
            if sha not in self._known_chunks:
                self.put(chunk)
                _remember(self._known_chunks, sha)
        self._insert(
            StoredBlob(
                sha256=digest, size=len(data), data=segments.encode(), base_sha256=base_sha256,
                created_at=datetime.now(UTC),
            )
        )  # fmt: skip
        return digest

    def get(self, sha256: str) -> bytes:
        if not _is_digest(sha256):
            raise NotFoundError("no such blob")
        with self.database.read() as session:
            row = session.execute(
                select(StoredBlob.data, StoredBlob.base_sha256, StoredBlob.size).where(StoredBlob.sha256 == sha256)
            ).one_or_none()
            if row is None:
                raise NotFoundError("stored file is missing")
            data = bytes(row.data)
            if row.base_sha256 is not None:

                def whole(name: str, what: str) -> bytes:
                    found = session.scalar(
                        select(StoredBlob.data).where(StoredBlob.sha256 == name, StoredBlob.base_sha256.is_(None))
                    )
                    if found is None:
                        raise StorageError(f"the {what} of a stored file is missing")
                    return bytes(found)

                increment = _Segments.join(data, lambda name: whole(name, "chunk"))
                data = whole(row.base_sha256, "base") + increment
                if len(data) != row.size:
                    raise StorageError(_INTEGRITY)
        return _checked(data, sha256)

    def stream(self, sha256: str) -> CheckedBlob:
        return CheckedBlob(sha256, self.get(sha256))  # ``get`` checks every row it reads

    def sync(self, digests: Iterable[str]) -> None:
        """Every row was committed by its own ``put``: nothing is left to flush."""

    def exists(self, sha256: str) -> bool:
        if not _is_digest(sha256):
            return False
        with self.database.read() as session:
            return session.scalar(select(StoredBlob.sha256).where(StoredBlob.sha256 == sha256)) is not None
