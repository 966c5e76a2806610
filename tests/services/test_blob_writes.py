"""A version's blob writes run together, and nothing is recorded before all of them are stored."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from certsvc.errors import StorageError
from certsvc.services.context import ServiceContext
from certsvc.storage.blobs import BlobStore
from certsvc.storage.orm import Certificate, CertificateVersion
from tests.services.helpers import issue_sample, new_issuer


class _SlowStore:
    """The real store behind a slow disk: each write takes ``delay`` seconds before it starts.

    ``fail_at``: the n-th write (1-based) fails as a full disk would.
    """

    def __init__(self, inner: BlobStore, delay: float, fail_at: int | None = None) -> None:
        self.inner, self.delay, self.fail_at = inner, delay, fail_at
        self._lock = threading.Lock()
        self.started = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.finished: list[str] = []

    def put(self, data: bytes) -> str:
        with self._lock:
            self.started += 1
            number = self.started
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(self.delay)
            if number == self.fail_at:
                raise StorageError("could not write a blob to the blob store")
            digest = self.inner.put(data)
            with self._lock:
                self.finished.append(digest)
            return digest
        finally:
            with self._lock:
                self.in_flight -= 1

    def get(self, sha256: str) -> bytes:
        return self.inner.get(sha256)

    def exists(self, sha256: str) -> bool:
        return self.inner.exists(sha256)


def test_writes_overlap_and_every_file_is_stored_before_the_version_is_recorded(
    embedded: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, principal = new_issuer(embedded)
    slow = _SlowStore(embedded.blobs, delay=0.6)
    monkeypatch.setattr(embedded, "blobs", slow)
    issued = issue_sample(embedded, principal)
    with embedded.database.read() as session:
        version = session.scalars(select(CertificateVersion).where(CertificateVersion.identifier == issued.identifier)).one()
    files = {version.sha256, version.unsigned_sha256, version.print_sha256}
    assert files <= set(slow.finished)  # all three written by the time the row exists ...
    assert all(slow.inner.exists(sha) for sha in files)  # ... and readable from the store
    assert slow.most_in_flight >= 2  # the unsigned render was still being written while sealing went on


def test_a_failed_write_records_nothing(embedded: ServiceContext, monkeypatch: pytest.MonkeyPatch) -> None:
    _, principal = new_issuer(embedded)
    with embedded.database.read() as session:
        before = session.scalar(select(func.count()).select_from(Certificate))
    slow = _SlowStore(embedded.blobs, delay=0.05, fail_at=3)  # the print copy
    monkeypatch.setattr(embedded, "blobs", slow)
    with pytest.raises(StorageError):
        issue_sample(embedded, principal)
    assert slow.in_flight == 0  # the other writes ended before the error came out
    with embedded.database.read() as session:
        assert session.scalar(select(func.count()).select_from(Certificate)) == before
