"""Blobs and encrypted keys in the database: content addressing, integrity on read, keys written
once; and a second node with an empty home of its own issuing from the same database."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sqlalchemy import update

from certsvc.config import load_settings
from certsvc.crypto.api import KeyAlgorithm, generate_private_key_pem
from certsvc.errors import ConfigurationError, KeyUnavailableError, NotFoundError, StorageError
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.embedded_init import init_embedded
from certsvc.services.issuance import IssuanceService
from certsvc.storage.blobs import DatabaseBlobStore
from certsvc.storage.keystore import DatabaseKeyStore
from certsvc.storage.orm_shared import StoredBlob
from tests.conftest import PUBLIC_URL
from tests.services.helpers import new_issuer, sample_issue_request


def test_blobs_in_the_database_are_content_addressed_and_checked_on_read(embedded: ServiceContext) -> None:
    store = DatabaseBlobStore(embedded.database)
    data = "内蒙古自治区锡林郭勒盟 食品经营许可证".encode() + bytes(range(256))
    digest = store.put(data)
    assert digest == hashlib.sha256(data).hexdigest()
    assert store.put(data) == digest  # a second write of the same bytes is free
    assert store.get(digest) == data and store.exists(digest)
    with pytest.raises(NotFoundError):
        store.get("0" * 64)
    with pytest.raises(NotFoundError):
        store.get("../../etc/passwd")
    assert not store.exists("nope")
    with embedded.database.transaction() as session:  # a row changed behind the service's back
        session.execute(update(StoredBlob).where(StoredBlob.sha256 == digest).values(data=data[:-1] + b"\x00"))
    with pytest.raises(StorageError):
        store.get(digest)


def test_keys_in_the_database_are_written_once(embedded: ServiceContext) -> None:
    store = DatabaseKeyStore(embedded.database)
    ref = "test-db-key-" + hashlib.sha256(str(id(store)).encode()).hexdigest()[:8]
    assert not store.exists(ref)
    key_pem = generate_private_key_pem(KeyAlgorithm.ECDSA_P256, b"test passphrase")  # made here, never committed
    store.put(ref, key_pem)
    assert store.get(ref) == key_pem
    with pytest.raises(StorageError):
        store.put(ref, b"another key")  # a key is never replaced
    with pytest.raises(KeyUnavailableError):
        store.get("no-such-key")
    with pytest.raises(KeyUnavailableError):
        store.get("../keys/dev-root")


def test_database_stores_need_postgresql_and_one_passphrase_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(home=tmp_path, database_url=f"sqlite:///{tmp_path}/x.sqlite3", blob_store="database", key_store="database")
    assert any("BLOB_STORE" in p for p in caught.value.details) and any("KEY_STORE" in p for p in caught.value.details)
    secret = tmp_path / "passphrase"
    secret.write_text("correct horse battery staple\n")
    with pytest.raises(ConfigurationError):
        load_settings(home=tmp_path, key_passphrase="x" * 20, key_passphrase_file=secret)
    settings = load_settings(home=tmp_path, key_passphrase_file=secret)
    assert build_context(settings, migrate=False).passphrase() == b"correct horse battery staple"


def test_a_second_node_with_an_empty_home_issues_from_the_shared_database(
    tmp_path: Path, fresh_database_url: str | None
) -> None:
    if fresh_database_url is None:
        pytest.skip("the database stores are for PostgreSQL (make test: pytest --db=postgresql)")

    def node(name: str) -> ServiceContext:
        # B-B: the built-in development TSA keeps its certificate under one node's home; a
        # cluster names a TSA every node reaches (CERTSVC_TSA_URL) instead.
        return build_context(
            load_settings(
                home=tmp_path / name, database_url=fresh_database_url, public_url=PUBLIC_URL, blob_store="database",
                key_store="database", key_passphrase="锡林郭勒盟-cluster-passphrase", public_rate_limit_per_minute=0, pades_level="B-B",
            )
        )

    first = node("node-a")
    init_embedded(first)
    _department, issuer = new_issuer(first)  # its seal key goes to the database
    second = node("node-b")
    assert not (tmp_path / "node-b" / "blobs").exists()
    issued = IssuanceService(second).issue(sample_issue_request(), principal=issuer)
    pdf = first.blobs.get(issued.sha256)  # node A reads what node B sealed
    assert pdf.startswith(b"%PDF") and hashlib.sha256(pdf).hexdigest() == issued.sha256
    for home in ("node-a", "node-b"):
        blob_dir = tmp_path / home / "blobs"
        assert not blob_dir.exists() or not any(p.is_file() for p in blob_dir.rglob("*"))
        assert not list((tmp_path / home).rglob("*.key.pem"))  # no key file on either node
    first.database.dispose()
    second.database.dispose()
