"""Tables of the stores a cluster shares through the database: blobs and encrypted keys.

Both are optional (``CERTSVC_BLOB_STORE=database``, ``CERTSVC_KEY_STORE=database``); the
embedded default keeps files under ``CERTSVC_HOME``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from certsvc.storage.orm import Base

__all__ = ["StoredBlob", "StoredKey"]


class StoredBlob(Base):
    """A signed file or render, named by the SHA-256 of its bytes (write-once).

    With ``base_sha256`` set the row is an increment: the file is that base blob's bytes
    followed by ``data`` (``storage/blobs.py``); ``size`` is always the whole file's.
    """

    __tablename__ = "blobs"

    sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    base_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column()


class StoredKey(Base):
    """An encrypted private key (PKCS#8 PEM, encrypted in ``crypto``), by key reference.

    Only ciphertext is kept here; the passphrase lives with each node's secrets, never in
    the database.
    """

    __tablename__ = "key_files"

    ref: Mapped[str] = mapped_column(String(121), primary_key=True)
    encrypted_pem: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column()
