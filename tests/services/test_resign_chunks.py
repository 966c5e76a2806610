"""Batch re-sign in chunks (group commit): items of one claimed chunk are sealed, flushed and
recorded together, and a licence that changes between the claim and the write fails or is
skipped alone, never taking its chunk down."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.jobs.api import TaskSpec, WorkItem
from certsvc.services.batch import BatchService
from certsvc.services.batch_jobs import HANDLER_FACTORIES, BatchKind
from certsvc.services.batch_resign import ResignHandler
from certsvc.services.context import ServiceContext
from certsvc.services.verification import VerificationService
from certsvc.storage.orm import Certificate, CertificateVersion
from certsvc.storage.orm_batch import BatchItem
from tests.jobs.batch_helpers import OPERATOR, new_department, new_seal
from tests.services.test_batch_resign import _issue_samples
from tests.services.test_resign_increments import SEAL_NAME


class _Interfering(ResignHandler):
    """Between the claim-time read and the write, one licence is revoked and another gets a
    new version elsewhere (as a concurrent change would)."""

    revoke: int = 0
    change: int = 0

    def prepare(self, session: Session, items: list[WorkItem]) -> None:
        super().prepare(session, items)
        with self.ctx.database.transaction() as write:
            write.execute(update(Certificate).where(Certificate.id == self.revoke).values(status="revoked"))
            write.execute(
                update(Certificate).where(Certificate.id == self.change).values(current_version=Certificate.current_version + 1)
            )


def test_a_chunk_records_its_items_together_and_a_changed_licence_fails_alone(embedded: ServiceContext) -> None:
    department = new_department(embedded)
    ids = _issue_samples(embedded, department, limit=4).certificate_ids
    seal_id = new_seal(embedded, department.code, algorithm=crypto.KeyAlgorithm.ECDSA_P256, name=SEAL_NAME)
    service = BatchService(embedded)
    created = service.create_resign_job(to_seal_id=seal_id, principal=OPERATOR, reason="key rollover")
    kind, params = BatchKind.RESIGN, {"to_seal_id": seal_id, "reason": "key rollover", "actor_name": "test"}
    handler = _Interfering(embedded, job_id=created.job_id, params=params, owns_context=False)
    handler.revoke, handler.change = ids[0], ids[1]
    task = TaskSpec(HANDLER_FACTORIES[kind], {"settings": embedded.settings, "job_id": created.job_id, "params": params})
    final = service.engine.run(created.job_id, task, workers=0, handler=handler)
    assert (final.done, final.skipped, final.failed) == (2, 1, 1)

    with embedded.database.read() as session:
        items = {
            row.key: row
            for row in session.scalars(select(BatchItem).where(BatchItem.job_id == created.job_id))
        }
        by_id = {int(row.payload["certificate_id"]): row for row in items.values()}
        assert by_id[ids[0]].state == "skipped" and by_id[ids[0]].result["skipped"] == "revoked"
        assert by_id[ids[1]].state == "failed" and by_id[ids[1]].error_code == "licence_changed"
        # The two others were written in the chunk's one transaction: one finishing time.
        done = [by_id[i] for i in ids[2:]]
        assert all(row.state == "done" for row in done) and len({row.finished_at for row in done}) == 1
        versions = {
            cid: session.scalars(select(CertificateVersion.version).where(CertificateVersion.certificate_id == cid)).all()
            for cid in ids
        }
    assert versions[ids[0]] == [1] and versions[ids[1]] == [1]  # nothing published for either
    for cid in ids[2:]:
        assert sorted(versions[cid]) == [1, 2]
        with embedded.database.read() as session:
            sha = session.scalar(
                select(CertificateVersion.sha256).where(CertificateVersion.certificate_id == cid, CertificateVersion.version == 2)
            )
        assert sha is not None
        report = VerificationService(embedded).verify_pdf(embedded.blobs.get(sha))
        assert report.verdict.value == "valid", report.reasons
