"""Re-signed versions stored as the shared unsigned render plus the seal's increment: every
reader gets the sealed file byte for byte (the download API streams it in chunks, with its
length), a changed base or increment is refused (never served, not even in part), the file
still validates (certsvc and pdfsig), and a re-sign writes a few kilobytes."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from certsvc.api.app import create_app
from certsvc.config import load_settings
from certsvc.crypto import api as crypto
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.embedded_init import init_embedded
from certsvc.services.principals import Role, create_api_client
from certsvc.services.verification import VerificationService
from certsvc.storage.blobs import STREAM_CHUNK
from certsvc.storage.orm import Certificate, CertificateVersion
from certsvc.storage.orm_shared import StoredBlob
from tests.conftest import PUBLIC_URL, auth
from tests.jobs.batch_helpers import OPERATOR, new_department, new_seal
from tests.services.test_batch_resign import _issue_samples

FOOD = "food-business-licence"
SEAL_NAME = "行政许可专用章"  # the department's seal name: a key rollover keeps the image (and print copy)


def _resign(ctx: ServiceContext, seal_id: int) -> None:
    service = BatchService(ctx)
    created = service.create_resign_job(to_seal_id=seal_id, principal=OPERATOR, reason="key rollover")
    final = service.run(created.job_id, principal=OPERATOR, workers=0)
    assert final.failed == 0 and final.done > 0


def _newest(ctx: ServiceContext, certificate_id: int) -> CertificateVersion:
    with ctx.database.read() as session:
        version = session.scalars(
            select(CertificateVersion)
            .where(CertificateVersion.certificate_id == certificate_id)
            .order_by(CertificateVersion.version.desc())
        ).first()
        assert version is not None
        session.expunge(version)
        return version


def _streamed(client: TestClient, url: str, api_key: str) -> tuple[httpx.Response, list[bytes]]:
    """The answer to GET ``url`` and its body in the pieces the server sent."""
    with client.stream("GET", url, headers=auth(api_key)) as answer:
        return answer, [piece for piece in answer.iter_raw() if piece]


def _assert_streamed_whole(client: TestClient, url: str, api_key: str, expected: bytes) -> None:
    answer, pieces = _streamed(client, url, api_key)
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    assert int(answer.headers["content-length"]) == len(expected)
    assert answer.headers["content-disposition"].startswith("attachment; filename*=UTF-8''")
    # A sealed licence is ~190 KB: more than one STREAM_CHUNK, so the server sent it in pieces.
    assert len(expected) > STREAM_CHUNK and len(pieces) == -(-len(expected) // STREAM_CHUNK)
    assert b"".join(pieces) == expected


def _assert_refused_whole(client: TestClient, url: str, api_key: str) -> None:
    """A problem+json answer with the stable code, and not one byte of the file."""
    answer, pieces = _streamed(client, url, api_key)
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/problem+json"
    body = b"".join(pieces)
    assert int(answer.headers["content-length"]) == len(body) and b"%PDF" not in body
    problem = json.loads(body)
    assert problem["code"] == "storage_failed" and "integrity" in problem["title"]


def test_a_resigned_version_is_an_increment_served_byte_for_byte_and_refused_when_changed(
    embedded: ServiceContext, client: TestClient, operator_key: str, tmp_path: Path
) -> None:
    department = new_department(embedded)
    ids = _issue_samples(embedded, department, limit=3).certificate_ids
    root = embedded.settings.blob_dir
    seal_id = new_seal(embedded, department.code, algorithm=crypto.KeyAlgorithm.ECDSA_P256, name=SEAL_NAME)
    before = {p for p in root.rglob("*") if p.is_file()}
    _resign(embedded, seal_id)
    new = [p for p in root.rglob("*") if p.is_file() and p not in before]
    records = [p for p in new if p.suffix == ".inc"]
    chunks = [p for p in new if p.suffix != ".inc"]
    assert len(records) == len(ids)
    # The issue's budget: at most 30 KB written to the blob store per re-signed licence (whole
    # files were ~190 KB each). The B-LTA increment's own bytes are the signature, the document
    # time-stamp and the xref; the seal appearance's image and font are chunks every licence the
    # seal seals that day shares, written once for the whole batch.
    assert all(p.stat().st_size <= 30 * 1024 for p in records), [p.stat().st_size for p in records]
    assert 1 <= len(chunks) <= 3, [p.stat().st_size for p in chunks]
    assert sum(p.stat().st_size for p in chunks) >= 32 * 1024

    version = _newest(embedded, ids[0])
    assert version.version == 2
    record = root / version.sha256[:2] / version.sha256[2:4] / f"{version.sha256}.inc"
    assert record.is_file() and not record.with_name(version.sha256).exists()
    sealed = embedded.blobs.get(version.sha256)
    assert hashlib.sha256(sealed).hexdigest() == version.sha256
    assert sealed.startswith(embedded.blobs.get(version.unsigned_sha256))

    # Every reader gets the same bytes: the download API, the full validation, pdfsig.
    with embedded.database.read() as session:
        identifier = session.get(Certificate, ids[0]).identifier  # type: ignore[union-attr]
    url = f"/api/v1/certificates/{identifier}/pdf"
    answer = client.get(url, headers=auth(operator_key))
    assert answer.status_code == 200 and answer.content == sealed
    _assert_streamed_whole(client, url, operator_key, sealed)
    report = VerificationService(embedded).verify_pdf(answer.content)
    assert report.verdict.value == "valid", report.reasons
    if shutil.which("pdfsig") is not None:
        path = tmp_path / "resigned.pdf"
        path.write_bytes(answer.content)
        out = subprocess.run(["pdfsig", path], capture_output=True, text=True).stdout
        assert "Signature #1" in out and "Signature Validation: Signature is Valid." in out, out

    # One byte of the increment changed on disk: refused with a clear error, nothing served.
    good = record.read_bytes()
    record.write_bytes(good[:-20] + bytes([good[-20] ^ 1]) + good[-19:])
    _assert_refused_whole(client, url, operator_key)
    record.write_bytes(good)
    assert client.get(url, headers=auth(operator_key)).content == sealed

    # The shared unsigned render changed: every version built on it is refused.
    base = root / version.unsigned_sha256[:2] / version.unsigned_sha256[2:4] / version.unsigned_sha256
    good_base = base.read_bytes()
    try:
        base.write_bytes(good_base[:100] + bytes([good_base[100] ^ 1]) + good_base[101:])
        _assert_refused_whole(client, url, operator_key)
    finally:
        base.write_bytes(good_base)
    assert client.get(url, headers=auth(operator_key)).content == sealed


def test_whole_files_are_stored_when_configured(tmp_path: Path, fresh_database_url: str | None) -> None:
    ctx = build_context(
        load_settings(home=tmp_path, public_url=PUBLIC_URL, database_url=fresh_database_url, resign_storage="whole", pades_level="B-B")
    )
    try:
        init_embedded(ctx)
        department = new_department(ctx)
        ids = _issue_samples(ctx, department, limit=1).certificate_ids
        _resign(ctx, new_seal(ctx, department.code, algorithm=crypto.KeyAlgorithm.ECDSA_P256, name=SEAL_NAME))
        version = _newest(ctx, ids[0])
        path = ctx.settings.blob_dir / version.sha256[:2] / version.sha256[2:4] / version.sha256
        assert path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == version.sha256
    finally:
        ctx.database.dispose()


def test_database_blobs_hold_increments_too(tmp_path: Path, fresh_database_url: str | None) -> None:
    if fresh_database_url is None:
        pytest.skip("the database blob store is for PostgreSQL (make test: pytest --db=postgresql)")
    ctx = build_context(
        load_settings(
            home=tmp_path, public_url=PUBLIC_URL, database_url=fresh_database_url, blob_store="database",
            key_passphrase="correct horse battery staple", pades_level="B-B",
        )
    )  # fmt: skip
    try:
        init_embedded(ctx)
        department = new_department(ctx, algorithm=crypto.KeyAlgorithm.SM2)
        ids = _issue_samples(ctx, department, limit=2).certificate_ids
        _resign(ctx, new_seal(ctx, department.code, algorithm=crypto.KeyAlgorithm.SM2, name=SEAL_NAME))
        version = _newest(ctx, ids[0])
        with ctx.database.read() as session:
            row = session.get(StoredBlob, version.sha256)
            assert row is not None and row.base_sha256 == version.unsigned_sha256 and len(row.data) <= 30 * 1024
            good_increment, good_base = bytes(row.data), bytes(session.get(StoredBlob, version.unsigned_sha256).data)  # type: ignore[union-attr]
            identifier = session.get(Certificate, ids[0]).identifier  # type: ignore[union-attr]
        sealed = ctx.blobs.get(version.sha256)
        assert hashlib.sha256(sealed).hexdigest() == version.sha256
        report = VerificationService(ctx).verify_pdf(sealed)
        assert report.verdict.value == "valid", report.reasons

        def change(sha256: str, data: bytes) -> None:
            with ctx.database.transaction() as session:
                session.execute(update(StoredBlob).where(StoredBlob.sha256 == sha256).values(data=data))

        with ctx.database.transaction() as session:
            key = create_api_client(session, name="stream-operator", role=Role.OPERATOR, department_id=None).api_key
        url = f"/api/v1/certificates/{identifier}/pdf"
        with TestClient(create_app(ctx), raise_server_exceptions=False) as client:
            _assert_streamed_whole(client, url, key, sealed)
            # A changed increment row, then a changed base row: refused before any byte is sent.
            change(version.sha256, good_increment[:-20] + bytes([good_increment[-20] ^ 1]) + good_increment[-19:])
            _assert_refused_whole(client, url, key)
            change(version.sha256, good_increment)
            change(version.unsigned_sha256, good_base[:100] + bytes([good_base[100] ^ 1]) + good_base[101:])
            _assert_refused_whole(client, url, key)
            change(version.unsigned_sha256, good_base)
            _assert_streamed_whole(client, url, key, sealed)
    finally:
        ctx.database.dispose()
