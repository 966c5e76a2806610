"""Where encrypted keys live: files under ``CERTSVC_HOME`` (the embedded deployment), or the
database (a cluster: every node that seals reaches the same keys).

A store only moves opaque bytes: keys arrive already encrypted (done in ``crypto``), and are
decrypted only in ``crypto`` again, with a passphrase that each node holds as a secret and that
is never stored beside the keys. A key reference is a plain name, never a path a caller controls.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from certsvc.errors import KeyUnavailableError, StorageError
from certsvc.storage.database import Database
from certsvc.storage.orm_shared import StoredKey

__all__ = ["DatabaseKeyStore", "FileKeyStore", "KeyStore"]

_REF_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,120}$")


class KeyStore(Protocol):
    def put(self, ref: str, encrypted_pem: bytes) -> None:
        """Store a new encrypted key; ``StorageError`` if ``ref`` exists (``replace`` re-encrypts)."""
        ...

    def get(self, ref: str) -> bytes:
        """The encrypted key; ``KeyUnavailableError`` if absent."""
        ...

    def exists(self, ref: str) -> bool: ...

    def refs(self) -> list[str]:
        """Every stored key's reference, sorted."""
        ...

    def replace(self, ref: str, encrypted_pem: bytes) -> None:
        """Replace an existing key's ciphertext in one step (re-encryption); ``KeyUnavailableError``
        if absent."""
        ...


def _check_ref(ref: str) -> str:
    if not _REF_RE.match(ref):
        raise KeyUnavailableError("malformed key reference")
    return ref


class FileKeyStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, ref: str) -> Path:
        if not _REF_RE.match(ref):
            raise KeyUnavailableError("malformed key reference")
        return self.root / f"{ref}.key.pem"

    def put(self, ref: str, encrypted_pem: bytes) -> None:
        """Write a new key file, readable by the owner only; never overwrites a key."""
        path = self._path(ref)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            os.chmod(self.root, 0o700)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(encrypted_pem)
                fh.flush()
                os.fsync(fh.fileno())
        except FileExistsError as exc:
            raise StorageError(f"key {ref!r} already exists") from exc
        except OSError as exc:
            raise StorageError("could not write a key file") from exc

    def refs(self) -> list[str]:
        """Every stored key's reference, sorted."""
        if not self.root.is_dir():
            return []
        suffix = ".key.pem"
        return sorted(
            p.name[: -len(suffix)]
            for p in self.root.glob(f"*{suffix}")
            if _REF_RE.match(p.name[: -len(suffix)])
        )

    def replace(self, ref: str, encrypted_pem: bytes) -> None:
        """Replace a key file atomically: the new file is written and synced beside the old one,
        then renamed over it, and the directory synced. A crash at any point leaves either the
        old file or the new one, each complete; never a torn or missing key.

        Raises:
            KeyUnavailableError: no such key.
            StorageError: the file cannot be written.
        """
        path = self._path(ref)
        if not path.exists():
            raise KeyUnavailableError(f"key {ref!r} is not available")
        tmp = path.with_name(f".{path.name}.new")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(encrypted_pem)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            dir_fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(dir_fd)  # the rename itself survives a power cut
            finally:
                os.close(dir_fd)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise StorageError(f"could not replace key file {ref!r}") from exc

    def get(self, ref: str) -> bytes:
        try:
            return self._path(ref).read_bytes()
        except OSError as exc:
            raise KeyUnavailableError(f"key {ref!r} is not available") from exc

    def exists(self, ref: str) -> bool:
        return self._path(ref).exists()


class DatabaseKeyStore:
    """Encrypted keys as rows of ``key_files``, each written once in its own transaction."""

    def __init__(self, database: Database) -> None:
        self.database = database

    def put(self, ref: str, encrypted_pem: bytes) -> None:
        _check_ref(ref)
        try:
            with self.database.transaction() as session:
                session.add(
                    StoredKey(ref=ref, encrypted_pem=encrypted_pem, created_at=datetime.now(UTC))
                )
        except IntegrityError as exc:
            raise StorageError(f"key {ref!r} already exists") from exc

    def get(self, ref: str) -> bytes:
        _check_ref(ref)
        with self.database.read() as session:
            pem = session.scalar(select(StoredKey.encrypted_pem).where(StoredKey.ref == ref))
        if pem is None:
            raise KeyUnavailableError(f"key {ref!r} is not available")
        return bytes(pem)

    def exists(self, ref: str) -> bool:
        _check_ref(ref)
        with self.database.read() as session:
            return session.scalar(select(StoredKey.ref).where(StoredKey.ref == ref)) is not None

    def refs(self) -> list[str]:
        with self.database.read() as session:
            return [str(r) for r in session.scalars(select(StoredKey.ref).order_by(StoredKey.ref))]

    def replace(self, ref: str, encrypted_pem: bytes) -> None:
        _check_ref(ref)
        with (
            self.database.transaction() as session
        ):  # one UPDATE: the old row or the new, never neither
            done = session.execute(
                update(StoredKey).where(StoredKey.ref == ref).values(encrypted_pem=encrypted_pem)
            )
            if not done.rowcount:  # type: ignore[attr-defined]
                raise KeyUnavailableError(f"key {ref!r} is not available")
