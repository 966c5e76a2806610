"""Where encrypted key files live in the embedded deployment.

The store only moves opaque bytes: keys arrive already encrypted (PKCS#8 with a passphrase,
done in ``crypto``), and are decrypted only in ``crypto`` again. A key reference is a plain
name, never a path a caller controls.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from certsvc.errors import KeyUnavailableError, StorageError

__all__ = ["FileKeyStore"]

_REF_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,120}$")


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
        return sorted(p.name[: -len(suffix)] for p in self.root.glob(f"*{suffix}") if _REF_RE.match(p.name[: -len(suffix)]))

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
