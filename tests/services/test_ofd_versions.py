"""Every way a version is made gives SM2-sealed versions their OFD: batch import, re-sign."""

from __future__ import annotations

from certsvc.crypto import api as crypto
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext
from certsvc.services.ofd_versions import OfdVersion, stored_ofd
from certsvc.services.verification import VerificationService
from tests.jobs.batch_helpers import OPERATOR, new_department, new_seal
from tests.services.test_batch_resign import _issue_samples


def _ofds(ctx: ServiceContext, certificate_ids: list[int], version: int) -> list[OfdVersion | None]:
    with ctx.database.read() as session:
        return [stored_ofd(session, cid, version) for cid in certificate_ids]


def test_batch_import_in_an_sm2_department_makes_sealed_ofds(embedded: ServiceContext) -> None:
    issued = _issue_samples(embedded, new_department(embedded, algorithm=crypto.KeyAlgorithm.SM2), limit=2)
    verifier = VerificationService(embedded)
    for ofd in _ofds(embedded, issued.certificate_ids, 1):
        assert ofd is not None
        report = verifier.verify_file(embedded.blobs.get(ofd.sha256))
        assert report.bottom_line, report.reasons
        assert report.registry is not None and report.registry.is_issued_file


def test_resign_seals_the_stored_ofd_again_or_renders_one_for_a_first_sm2_seal(embedded: ServiceContext) -> None:
    service = BatchService(embedded)
    verifier = VerificationService(embedded)
    # ECDSA → SM2: the licences had no OFD; the SM2 version gets one.
    ecdsa = _issue_samples(embedded, new_department(embedded), limit=2)
    assert _ofds(embedded, ecdsa.certificate_ids, 1) == [None, None]
    sm2_seal = new_seal(embedded, ecdsa.department.code, algorithm=crypto.KeyAlgorithm.SM2)
    job = service.create_resign_job(to_seal_id=sm2_seal, principal=OPERATOR, reason="to SM2")
    assert service.run(job.job_id, principal=OPERATOR, workers=0).done == 2
    for ofd in _ofds(embedded, ecdsa.certificate_ids, 2):
        assert ofd is not None
        assert verifier.verify_file(embedded.blobs.get(ofd.sha256)).bottom_line

    # SM2 → another SM2 seal: the stored unsealed OFD is sealed again, not re-rendered.
    sm2 = _issue_samples(embedded, new_department(embedded, algorithm=crypto.KeyAlgorithm.SM2), limit=2)
    before = _ofds(embedded, sm2.certificate_ids, 1)
    rollover = new_seal(embedded, sm2.department.code, algorithm=crypto.KeyAlgorithm.SM2)
    job = service.create_resign_job(to_seal_id=rollover, principal=OPERATOR, reason="key rollover")
    assert service.run(job.job_id, principal=OPERATOR, workers=0).done == 2
    after = _ofds(embedded, sm2.certificate_ids, 2)
    for old, new in zip(before, after, strict=True):
        assert old is not None and new is not None
        assert new.unsigned_sha256 == old.unsigned_sha256 and new.sha256 != old.sha256
        report = verifier.verify_file(embedded.blobs.get(new.sha256))
        assert report.bottom_line, report.reasons
        # The OFD of the earlier seal is the same licence after a key rotation, as for PDF.
        earlier = verifier.verify_file(embedded.blobs.get(old.sha256))
        assert "earlier_seal_of_current" in {r.code for r in earlier.reasons}
        assert earlier.verdict.value == "valid", earlier.reasons
