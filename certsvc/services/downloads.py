"""A stored file handed out for download: the name it is offered under and its checked bytes.

The blob is read and checked against its SHA-256 when the value is made, after the caller's
access checks and audit record: a file that fails the check raises ``StorageError`` there, before
a response has started, never half-way through a body.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from certsvc.storage.blobs import BlobStore, CheckedBlob

__all__ = ["Download"]


@dataclass(frozen=True, slots=True)
class Download:
    name: str
    blob: CheckedBlob

    @classmethod
    def open(cls, blobs: BlobStore, name: str, sha256: str) -> Download:
        """The stored file ``sha256`` offered as ``name``.

        Raises:
            NotFoundError: the store does not hold it.
            StorageError: it fails its integrity check.
        """
        return cls(name, blobs.stream(sha256))

    @property
    def sha256(self) -> str:
        return self.blob.sha256

    @property
    def size(self) -> int:
        return self.blob.size

    def chunks(self) -> Iterator[bytes]:
        return self.blob.chunks()

    def read(self) -> bytes:
        """The whole file (for callers that write it out at once, e.g. the CLI)."""
        return self.blob.data
