"""VerificationService.verify_pdf: a report with one verdict, coded reasons and the registry's view."""

from __future__ import annotations

from certsvc.crypto import api as crypto
from certsvc.domain.reports import Verdict
from certsvc.domain.status import LicenceAction
from certsvc.services.context import ServiceContext
from certsvc.services.lifecycle import LifecycleService
from certsvc.services.verification import VerificationService
from certsvc.storage.repositories import CertificateRepository
from tests.services.helpers import issue_sample, new_issuer


def _codes(report: object) -> set[str]:
    return {r.code for r in report.reasons}  # type: ignore[attr-defined]


def test_the_issued_file_is_valid_and_matches_the_registry(embedded: ServiceContext) -> None:
    _, issuer = new_issuer(embedded, algorithm=crypto.KeyAlgorithm.SM2)
    issued = issue_sample(embedded, issuer)
    report = VerificationService(embedded).verify_pdf(embedded.blobs.get(issued.sha256))
    assert report.verdict is Verdict.VALID, _codes(report)
    assert {"signature_valid", "seal_data_valid", "licence_valid"} <= _codes(report)
    assert report.registry is not None and report.registry.is_issued_file
    assert report.registry.identifier == issued.identifier and report.file_sha256 == issued.sha256


def test_unsigned_changed_and_suspended_files_are_not_valid(embedded: ServiceContext) -> None:
    _, issuer = new_issuer(embedded)
    issued = issue_sample(embedded, issuer)
    service = VerificationService(embedded)
    with embedded.database.read() as session:
        cert = CertificateRepository(session).by_identifier(issued.identifier)
        assert cert is not None
        unsigned = embedded.blobs.get(cert.versions[0].unsigned_sha256)
    unsigned_report = service.verify_pdf(unsigned)
    assert unsigned_report.verdict is not Verdict.VALID and "no_signature" in _codes(unsigned_report)
    # Found through its GB/T 36903 metadata, but never called the issued file.
    assert unsigned_report.registry is not None and not unsigned_report.registry.is_issued_file

    signed = embedded.blobs.get(issued.sha256)
    at = signed.index(b"ReportLab")  # in the document info, inside the signed range
    changed = service.verify_pdf(signed[:at] + b"X" + signed[at + 1 :])
    assert changed.verdict is Verdict.INVALID and "signature_broken" in _codes(changed)

    LifecycleService(embedded, background_webhooks=False).change_status(
        issued.identifier, LicenceAction.SUSPEND, reason="核查", principal=issuer
    )
    suspended = service.verify_pdf(signed)
    assert suspended.verdict is Verdict.INVALID and "licence_suspended" in _codes(suspended)
