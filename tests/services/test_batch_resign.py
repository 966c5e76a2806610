"""Batch re-signing (批量签章): a new version per licence with the new seal, earlier ones kept."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select

from certsvc.crypto import api as crypto
from certsvc.errors import BadRequestError, ConflictError
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext
from certsvc.services.verification import VerificationService
from certsvc.storage.orm import Certificate, CertificateVersion
from tests.conftest import TEMPLATES
from tests.jobs.batch_helpers import OPERATOR, TestDepartment, new_department, new_seal

FOOD = "food-business-licence"


@dataclass(frozen=True)
class Issued:
    department: TestDepartment
    certificate_ids: list[int]


def _issue_samples(ctx: ServiceContext, department: TestDepartment, *, limit: int = 4) -> Issued:
    import csv

    source = TEMPLATES / FOOD / "sample.csv"
    rows = list(csv.reader(source.open(encoding="utf-8", newline="")))
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "records.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows(rows[: limit + 1])
        service = BatchService(ctx)
        created, _ = service.create_import_job(path, template=FOOD, department_code=department.code, principal=OPERATOR)
        assert service.run(created.job_id, principal=OPERATOR, workers=0).done == limit
    with ctx.database.transaction() as session:
        ids = list(session.scalars(select(Certificate.id).where(Certificate.department_id == department.id).order_by(Certificate.id)))
    return Issued(department, ids)


def _versions(ctx: ServiceContext, certificate_id: int) -> list[tuple[int, str, str, str, int, str]]:
    with ctx.database.transaction() as session:
        rows = session.scalars(
            select(CertificateVersion).where(CertificateVersion.certificate_id == certificate_id).order_by(CertificateVersion.version)
        ).all()
        return [(v.version, v.identifier, v.sha256, v.print_sha256, v.seal_id, v.unsigned_sha256) for v in rows]


def _set_status(ctx: ServiceContext, certificate_id: int, status: str) -> None:
    with ctx.database.transaction() as session:
        cert = session.get(Certificate, certificate_id)
        assert cert is not None
        cert.status = status


@pytest.mark.parametrize(
    ("to_algorithm", "signature_algorithm"),
    [(crypto.KeyAlgorithm.ECDSA_P256, "ecdsa"), (crypto.KeyAlgorithm.SM2, "sm2")],
    ids=["ecdsa-to-ecdsa", "ecdsa-to-sm2"],
)
def test_resign_makes_one_new_version_per_licence_and_keeps_the_old_ones(
    embedded: ServiceContext, to_algorithm: crypto.KeyAlgorithm, signature_algorithm: str
) -> None:
    issued = _issue_samples(embedded, new_department(embedded))
    revoked = issued.certificate_ids[-1]
    _set_status(embedded, revoked, "revoked")
    seal_id = new_seal(embedded, issued.department.code, algorithm=to_algorithm)
    service = BatchService(embedded)
    before = {cid: _versions(embedded, cid) for cid in issued.certificate_ids}

    plan = service.check_resign(to_seal_id=seal_id, principal=OPERATOR)
    assert (plan.matched, plan.revoked_or_cancelled, plan.already_on_seal) == (4, 1, 0)
    created = service.create_resign_job(to_seal_id=seal_id, principal=OPERATOR, reason="key rollover")
    final = service.run(created.job_id, principal=OPERATOR, workers=0)
    assert (final.state, final.done, final.skipped, final.failed, final.total) == ("completed", 3, 1, 0, 4)

    verifier = VerificationService(embedded)
    for cid in issued.certificate_ids:
        versions = _versions(embedded, cid)
        if cid == revoked:
            assert versions == before[cid]
            continue
        assert len(versions) == 2
        old, new = versions
        assert new[0] == 2 and new[4] == seal_id
        assert new[1] == old[1]  # the page and its identifier stay; only the revision grows
        assert new[5] == old[5]  # the stored unsigned render was sealed, not a new render
        assert new[3] != old[3]  # the new seal's image differs, so the print copy was re-rendered
        old_report = verifier.verify_pdf(embedded.blobs.get(old[2]))
        codes = {r.code: r for r in old_report.reasons}
        # The same licence, sealed earlier: a key rotation keeps the earlier file valid.
        assert "earlier_seal_of_current" in codes and "licence_superseded" not in codes
        assert "re-sealed as version 2" in codes["earlier_seal_of_current"].message_en
        assert old_report.verdict.value == "valid", old_report.reasons
        new_report = verifier.verify_pdf(embedded.blobs.get(new[2]))
        assert new_report.bottom_line, new_report.reasons
        assert len(new_report.signatures) == 1  # a clean file, not a signature on a signature
        assert signature_algorithm in new_report.signatures[0].algorithm
    with embedded.database.transaction() as session:
        assert all(
            session.get(Certificate, cid).current_version == (1 if cid == revoked else 2)  # type: ignore[union-attr]
            for cid in issued.certificate_ids
        )

    # Running the same command again changes nothing: every licence is already on the seal.
    again = service.create_resign_job(to_seal_id=seal_id, principal=OPERATOR, reason="key rollover")
    rerun = service.run(again.job_id, principal=OPERATOR, workers=0)
    assert (rerun.done, rerun.skipped) == (0, 4)
    assert all(len(_versions(embedded, cid)) == (1 if cid == revoked else 2) for cid in issued.certificate_ids)


def test_filters_from_seal_template_and_issued_before(embedded: ServiceContext) -> None:
    issued = _issue_samples(embedded, new_department(embedded), limit=2)
    seal_id = new_seal(embedded, issued.department.code, algorithm=crypto.KeyAlgorithm.ECDSA_P256)
    service = BatchService(embedded)
    from datetime import date, timedelta

    today = embedded.clock.now().date()
    assert service.check_resign(to_seal_id=seal_id, principal=OPERATOR, issued_before=today - timedelta(days=1)).matched == 0
    assert service.check_resign(to_seal_id=seal_id, principal=OPERATOR, issued_before=today + timedelta(days=2)).matched == 2
    assert service.check_resign(to_seal_id=seal_id, principal=OPERATOR, template="drug-business-licence").matched == 0
    assert service.check_resign(to_seal_id=seal_id, principal=OPERATOR, from_seal_id=issued.department.seal_id).matched == 2
    assert service.check_resign(to_seal_id=seal_id, principal=OPERATOR, from_seal_id=seal_id).matched == 0
    with pytest.raises(BadRequestError):
        service.check_resign(to_seal_id=seal_id, principal=OPERATOR, department_code="11152500011512829G")
    assert isinstance(date.today(), date)


def test_same_command_reuses_the_unfinished_job_and_cancel_stops_it(embedded: ServiceContext) -> None:
    issued = _issue_samples(embedded, new_department(embedded), limit=2)
    seal_id = new_seal(embedded, issued.department.code, algorithm=crypto.KeyAlgorithm.ECDSA_P256)
    service = BatchService(embedded)
    first = service.create_resign_job(to_seal_id=seal_id, principal=OPERATOR)
    second = service.create_resign_job(to_seal_id=seal_id, principal=OPERATOR)
    assert second.job_id == first.job_id and second.is_existing
    cancelled = service.cancel(first.job_id, principal=OPERATOR)
    assert cancelled.state == "cancelled" and cancelled.pending == 2
    with pytest.raises(ConflictError):
        service.run(first.job_id, principal=OPERATOR, workers=0)
