"""Blobs stored as a shared base plus an increment: rebuilt byte for byte, hash-checked whole,
refused when the base or the increment changed; on the directory and the database store."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import update

from certsvc.errors import StorageError
from certsvc.services.context import ServiceContext
from certsvc.storage.blobs import STREAM_CHUNK, BlobStore, DatabaseBlobStore, LocalBlobStore
from certsvc.storage.orm_shared import StoredBlob

# An unsigned render and what a seal appends to it (an incremental update), in miniature.
BASE = b"%PDF-1.7\n% " + "锡林郭勒盟市场监督管理局 食品经营许可证".encode() * 4000 + b"\n%%EOF\n"
IMAGE = b"\x89seal image " + bytes(range(256)) * 64  # an appearance stream every sealed licence shares
SEALED = (
    BASE
    + b"11 0 obj\n<< /Type /XObject /Length %d >>\nstream\n" % len(IMAGE) + IMAGE + b"\nendstream\nendobj\n"
    + b"12 0 obj\n<< /Type /Sig /Contents <" + bytes(range(256)) * 8 + b"> >>\nendobj\n%%EOF\n"
)  # fmt: skip


def _local(tmp_path: Path, embedded: ServiceContext) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "blobs")


def _database(tmp_path: Path, embedded: ServiceContext) -> DatabaseBlobStore:
    return DatabaseBlobStore(embedded.database)


STORES: list[Callable[[Path, ServiceContext], BlobStore]] = [_local, _database]


@pytest.mark.parametrize("make_store", STORES, ids=["directory", "database"])
def test_an_increment_is_rebuilt_byte_for_byte(tmp_path: Path, embedded: ServiceContext, make_store: Callable[[Path, ServiceContext], BlobStore]) -> None:
    store = make_store(tmp_path, embedded)
    base_sha = store.put(BASE)
    digest = store.put_increment(SEALED, base=BASE, base_sha256=base_sha)
    assert digest == hashlib.sha256(SEALED).hexdigest()
    assert store.exists(digest)
    assert store.get(digest) == SEALED
    blob = store.stream(digest)
    chunks = list(blob.chunks())
    assert blob.sha256 == digest and blob.size == len(SEALED) == sum(len(c) for c in chunks)
    assert b"".join(chunks) == SEALED and max(len(c) for c in chunks) <= STREAM_CHUNK
    assert store.put_increment(SEALED, base=BASE, base_sha256=base_sha) == digest  # a second write is free
    # Bytes that do not extend the base are stored whole, not as a wrong increment.
    other = b"%PDF-1.7\n" + b"another file" * 100
    assert store.get(store.put_increment(other, base=BASE, base_sha256=base_sha)) == other


def test_the_directory_store_writes_the_increment_and_shares_long_streams(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    base_sha = store.put(BASE)
    digest = store.put_increment(SEALED, base=BASE, base_sha256=base_sha)
    record = tmp_path / digest[:2] / digest[2:4] / f"{digest}.inc"
    assert record.is_file() and not record.with_name(digest).exists()
    # The image stream is a chunk of its own; the record keeps the rest and a short index.
    image_sha = hashlib.sha256(IMAGE + b"\n").hexdigest()
    assert store.get(image_sha) == IMAGE + b"\n"
    assert record.stat().st_size < len(SEALED) - len(BASE) - len(IMAGE) + 300
    # A second licence sealed with the same appearance writes only its own record.
    other_base = BASE + b"% another licence\n"
    other = other_base + SEALED[len(BASE) :]
    files = {p for p in tmp_path.rglob("*") if p.is_file()}
    other_sha = store.put_increment(other, base=other_base, base_sha256=store.put(other_base))
    assert len({p for p in tmp_path.rglob("*") if p.is_file()} - files) == 2  # its base and its record
    assert store.get(other_sha) == other
    assert not list(tmp_path.rglob(".tmp-*"))


def test_the_directory_store_refuses_a_changed_base_or_increment(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    base_sha = store.put(BASE)
    digest = store.put_increment(SEALED, base=BASE, base_sha256=base_sha)
    record = tmp_path / digest[:2] / digest[2:4] / f"{digest}.inc"
    base_path = tmp_path / base_sha[:2] / base_sha[2:4] / base_sha
    good_record = record.read_bytes()

    record.write_bytes(good_record[:-3] + b"EOF")  # one byte of the signature changed
    for read in (store.get, store.stream):  # stream() refuses before handing out any chunk
        with pytest.raises(StorageError, match="integrity"):
            read(digest)
    record.write_bytes(b"not an increment record")
    with pytest.raises(StorageError, match="integrity"):
        store.get(digest)
    record.write_bytes(good_record)
    assert store.get(digest) == SEALED

    image_sha = hashlib.sha256(IMAGE + b"\n").hexdigest()
    chunk_path = tmp_path / image_sha[:2] / image_sha[2:4] / image_sha
    chunk_path.write_bytes(b"\x00" + IMAGE[1:] + b"\n")  # a shared chunk changed
    with pytest.raises(StorageError, match="integrity"):
        store.get(digest)
    chunk_path.unlink()
    with pytest.raises(StorageError, match="chunk"):
        store.get(digest)
    chunk_path.write_bytes(IMAGE + b"\n")

    base_path.write_bytes(BASE.replace("许可证".encode(), "许可正".encode(), 1))  # same length, one word changed
    with pytest.raises(StorageError, match="integrity"):
        store.get(digest)
    base_path.unlink()
    with pytest.raises(StorageError, match="base"):
        store.get(digest)
    # An increment on a base the store does not hold whole is refused when written.
    with pytest.raises(StorageError, match="base"):
        store.put_increment(SEALED + b"%more\n", base=BASE, base_sha256=base_sha)


def test_a_whole_stored_file_is_also_checked_when_read_or_streamed(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    digest = store.put(SEALED)
    (tmp_path / digest[:2] / digest[2:4] / digest).write_bytes(SEALED[:-1] + b"\x00")
    with pytest.raises(StorageError, match="integrity"):
        store.get(digest)  # e.g. a render that a re-sign would seal again
    with pytest.raises(StorageError, match="integrity"):
        store.stream(digest)


def test_the_database_store_refuses_a_changed_base_or_increment(embedded: ServiceContext) -> None:
    store = DatabaseBlobStore(embedded.database)
    base = BASE + b"% database variant\n"
    sealed = base + SEALED[len(BASE) :]
    base_sha = store.put(base)
    digest = store.put_increment(sealed, base=base, base_sha256=base_sha)
    with embedded.database.read() as session:
        row = session.get(StoredBlob, digest)
        assert row is not None and row.base_sha256 == base_sha and row.size == len(sealed)
        assert len(row.data) < len(sealed) - len(base) - len(IMAGE) + 300  # the image is a chunk row

    def change(sha: str, data: bytes) -> None:
        with embedded.database.transaction() as session:
            session.execute(update(StoredBlob).where(StoredBlob.sha256 == sha).values(data=data))

    with embedded.database.read() as session:
        good = bytes(session.get(StoredBlob, digest).data)  # type: ignore[union-attr]
    change(digest, good[:-1] + b"\x00")
    with pytest.raises(StorageError, match="integrity"):
        store.get(digest)
    change(digest, b"not segments")
    with pytest.raises(StorageError, match="integrity"):
        store.get(digest)
    change(digest, good)
    assert store.get(digest) == sealed
    change(base_sha, base[:-2] + b"X\n")
    with pytest.raises(StorageError, match="integrity"):
        store.stream(digest)
    with pytest.raises(StorageError, match="base"):  # an increment never bases on an increment
        store.put_increment(sealed + b"%more\n", base=sealed, base_sha256=digest)


def test_long_streams_are_cut_after_their_keyword_whatever_the_line_end(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    base_sha = store.put(BASE)
    # CRLF after "stream", a short stream kept inline, and an "endstream" that opens nothing.
    update = (
        b"endstream\nendobj\n5 0 obj\n<< /Length 5 >>\nstream\r\nshort\nendstream\n"
        + b"6 0 obj\n<< >>\nstream\r\n" + IMAGE + b"\r\nendstream\nendobj\n%%EOF\n"
    )  # fmt: skip
    digest = store.put_increment(BASE + update, base=BASE, base_sha256=base_sha)
    assert store.get(hashlib.sha256(IMAGE + b"\r\n").hexdigest()) == IMAGE + b"\r\n"
    assert store.get(digest) == BASE + update


def test_increments_written_unsynced_are_flushed_as_a_group(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    digests = []
    for n in range(3):
        base = BASE + b"%% licence %d\n" % n
        digests.append(store.put_increment(base + SEALED[len(BASE) :], base=base, base_sha256=store.put(base), sync=False))
    store.sync(digests)  # one syncfs for the group
    store.sync(digests[:1])  # one file: fsync of the file and its directory
    assert [store.get(d) for d in digests] == [BASE + b"%% licence %d\n" % n + SEALED[len(BASE) :] for n in range(3)]
    with pytest.raises(StorageError, match="flush"):
        store.sync([digests[0], "e" * 64])
