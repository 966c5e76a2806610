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

    def get(self, ref: str) -> bytes:
        try:
            return self._path(ref).read_bytes()
        except OSError as exc:
            raise KeyUnavailableError(f"key {ref!r} is not available") from exc

    def exists(self, ref: str) -> bool:
        return self._path(ref).exists()
