"""Files of an earlier seal after a batch re-sign: rotation keeps them valid, a compromise does not."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from certsvc.errors import BadRequestError
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext
from certsvc.services.verification import VerificationService
from certsvc.storage.orm import Seal
from tests.conftest import TEMPLATES
from tests.jobs.batch_helpers import OPERATOR, TestDepartment, new_department, new_seal
from tests.services.test_batch_resign import _issue_samples, _versions


def _issue_one_more(ctx: ServiceContext, department: TestDepartment) -> int:
    """Import the sample's first two rows again: the first is already issued, the second is new."""
    import csv
    import tempfile
    from pathlib import Path

    from sqlalchemy import select

    from certsvc.storage.orm import Certificate

    rows = list(csv.reader((TEMPLATES / "food-business-licence" / "sample.csv").open(encoding="utf-8", newline="")))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(rows[:3])
        service = BatchService(ctx)
        created, _ = service.create_import_job(path, template="food-business-licence", department_code=department.code, principal=OPERATOR)
        assert service.run(created.job_id, principal=OPERATOR, workers=0).done == 1
    with ctx.database.read() as session:
        return max(session.scalars(select(Certificate.id).where(Certificate.department_id == department.id)))


def test_a_compromise_invalidates_only_files_sealed_from_its_time(embedded: ServiceContext) -> None:
    department = new_department(embedded)
    before_compromise = _issue_samples(embedded, department, limit=1).certificate_ids
    time.sleep(0.01)
    compromised_at = embedded.clock.now()
    time.sleep(0.01)
    after_compromise = [_issue_one_more(embedded, department)]
    assert after_compromise != before_compromise
    seal_id = new_seal(embedded, department.code, algorithm=department_algorithm(embedded, department.seal_id))
    service = BatchService(embedded)
    created = service.create_resign_job(
        to_seal_id=seal_id, from_seal_id=department.seal_id, principal=OPERATOR, reason="key compromise",
        compromised_at=compromised_at,
    )
    assert service.run(created.job_id, principal=OPERATOR, workers=0).done == 2

    verifier = VerificationService(embedded)
    (early_old, early_new) = _versions(embedded, before_compromise[0])
    (late_old, late_new) = _versions(embedded, after_compromise[0])
    early = verifier.verify_pdf(embedded.blobs.get(early_old[2]))
    assert early.verdict.value == "valid", early.reasons
    assert {r.code for r in early.reasons} >= {"earlier_seal_of_current", "signature_valid"}
    late = verifier.verify_pdf(embedded.blobs.get(late_old[2]))
    assert late.verdict.value == "invalid"
    codes = {r.code: r for r in late.reasons}
    assert "sealed_after_key_compromise" in codes and "earlier_seal_of_current" in codes
    assert compromised_at.isoformat() in codes["sealed_after_key_compromise"].message_en
    for new in (early_new, late_new):
        assert verifier.verify_pdf(embedded.blobs.get(new[2])).verdict.value == "valid"


def department_algorithm(ctx: ServiceContext, seal_id: int) -> object:
    from certsvc.crypto import api as crypto

    with ctx.database.read() as session:
        seal = session.get(Seal, seal_id)
        assert seal is not None
        return crypto.KeyAlgorithm(seal.algorithm)


def test_a_compromise_needs_the_seal_and_a_past_time(embedded: ServiceContext) -> None:
    department = new_department(embedded)
    seal_id = new_seal(embedded, department.code, algorithm=department_algorithm(embedded, department.seal_id))  # type: ignore[arg-type]
    service = BatchService(embedded)
    with pytest.raises(BadRequestError) as missing:
        service.create_resign_job(to_seal_id=seal_id, principal=OPERATOR, compromised_at=embedded.clock.now())
    assert missing.value.code == "compromise_needs_seal"
    with pytest.raises(BadRequestError) as future:
        service.create_resign_job(
            to_seal_id=seal_id, from_seal_id=department.seal_id, principal=OPERATOR,
            compromised_at=embedded.clock.now() + timedelta(days=1),
        )
    assert future.value.code == "invalid_compromise_time"
