from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from certsvc.errors import NotFoundError
from certsvc.storage.blobs import LocalBlobStore

pytestmark = pytest.mark.db_independent


def test_put_get_is_content_addressed(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    digest = store.put(b"licence bytes")
    assert digest == hashlib.sha256(b"licence bytes").hexdigest()
    assert store.get(digest) == b"licence bytes"
    assert store.put(b"licence bytes") == digest  # second write of the same bytes is a no-op
    assert (tmp_path / digest[:2] / digest[2:4] / digest).is_file()
    assert not list(tmp_path.rglob(".tmp-*"))  # no temporary files left behind


@pytest.mark.parametrize("name", ["../../etc/passwd", "0" * 63, "Z" * 64, ""])
def test_names_that_are_not_digests_are_not_found(tmp_path: Path, name: str) -> None:
    store = LocalBlobStore(tmp_path)
    with pytest.raises(NotFoundError):
        store.get(name)
    assert not store.exists(name)


def test_missing_blob_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        LocalBlobStore(tmp_path).get("a" * 64)
