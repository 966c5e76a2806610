"""Verifying a licence file: its signatures, then what the registry knows about it."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.domain.registry_reasons import report_with_registry
from certsvc.domain.reports import (
    Reason,
    RegistryView,
    SealRevocationView,
    SignatureDetail,
    VerificationReport,
    reason,
)
from certsvc.domain.revocation_policy import KEY_COMPROMISE, revoked_seal_reason
from certsvc.domain.status import LicenceStatus, effective_status
from certsvc.errors import (
    DocumentTooLargeError,
    InvalidDocumentError,
    KeyUnavailableError,
    SigningError,
    ValidationFailedError,
)
from certsvc.metrics import VERIFICATIONS
from certsvc.rendering import read_licence_metadata
from certsvc.services.context import ServiceContext
from certsvc.services.revocation import RevocationService
from certsvc.services.sealing_record import remember_sealing_record, reusable_checks
from certsvc.services.verification_ofd import OfdVerification
from certsvc.storage.orm import CertificateVersion
from certsvc.storage.repositories import CertificateRepository
from certsvc.storage.repositories_lifecycle import StatusHistoryRepository
from certsvc.storage.repositories_revocation import SealRevocationRepository

__all__ = ["VerificationService", "signature_details", "signature_reasons"]

_LISTED_CHANGES = 5  # changes spelled out in a reason; the rest are counted
# The registry's view of a file, the SES signature stored with it, its version's sealing record.
_Found = tuple[RegistryView | None, bytes | None, dict[str, Any] | None]


class VerificationService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def verify_file(self, data: bytes, *, at: datetime | None = None, full: bool = False) -> VerificationReport:
        """Check a licence file someone holds, PDF or OFD, told apart by content (not by name).

        Raises:
            DocumentTooLargeError: larger than ``max_upload_bytes``.
            InvalidDocumentError: neither a PDF nor an OFD, or too damaged (or unsafe) to evaluate.
        """
        if crypto.is_ofd(data):
            kind = "ofd"
            report = OfdVerification(
                self.ctx, view_of=lambda s, v, issued: self._view(s, v, is_issued_file=issued)
            ).verify(data)
        else:
            kind = "pdf"
            report = self.verify_pdf(data, at=at, full=full)
        VERIFICATIONS.labels(kind=kind, verdict=report.verdict.value).inc()
        return report

    def verify_pdf(self, data: bytes, *, at: datetime | None = None, full: bool = False) -> VerificationReport:
        """Check a PDF that someone holds. The outcome is a report, whatever it says.

        A file that is byte for byte one the registry sealed reuses the reference validator's
        outcome recorded the first time those bytes were verified, when what could have changed
        since still holds (``services/sealing_record.py``); the report is the same. ``full``
        always validates the file again (the reference; benchmarks compare both).

        ``at`` (aware) validates the seals as of that instant instead of now, e.g. a future
        date to see whether the file will still verify then (docs/ltv.md); the registry's view
        of the licence is always today's.

        Raises:
            DocumentTooLargeError: larger than ``max_upload_bytes``.
            InvalidDocumentError: not a PDF, or too damaged to evaluate.
        """
        if len(data) > self.ctx.settings.max_upload_bytes:
            raise DocumentTooLargeError(
                f"the file is larger than {self.ctx.settings.max_upload_bytes} bytes",
                details={"limit": self.ctx.settings.max_upload_bytes},
            )
        if b"%PDF-" not in data[:1024]:
            raise InvalidDocumentError("the file is not a PDF")
        now = self.ctx.clock.now()
        if at is not None and at.tzinfo is None:
            raise ValidationFailedError("at needs a time zone", details=[{"field": "at", "problem": "aware datetime"}])
        file_sha = hashlib.sha256(data).hexdigest()
        full = full or not self.ctx.settings.fast_verify
        found = None if full else self._registry_view(file_sha, [])
        recorded = None if found is None else self._recorded_result(file_sha, found, validation_time=at or now)
        result = recorded or crypto.validate_pdf(data, trust_roots_der=self.ctx.trust_roots(), validation_time=at or now)

        reasons = signature_reasons(result)
        details = signature_details(result)
        if recorded is None:
            revisions = [s.signed_revision_sha256 for s in result.signatures if s.signed_revision_sha256]
            found = self._registry_view(file_sha, revisions)
        assert found is not None
        registry, ses_signature, _ = found
        if recorded is None and at is None and self.ctx.settings.fast_verify and registry is not None and registry.is_issued_file:
            remember_sealing_record(self.ctx, data, ses_signature, result)
        reasons.extend(self._revocation_reasons(result.signatures, registry))
        if registry is None and not result.signatures:
            registry = self._print_copy_view(file_sha)
            if registry is not None:
                reasons = [
                    reason("print_copy", detail=registry.identifier, detail_zh=registry.identifier)
                ]
        if ses_signature is not None:
            # A reused record was only reused because the GB/T 38540 check it kept still holds.
            reasons.append(reason("seal_data_valid") if recorded is not None else self._seal_data_reason(data, ses_signature))
        if registry is None:
            # Not the issued bytes (re-saved, printed to PDF, QR unreadable, or forged): the file's
            # own GB/T 36903 metadata may still name the licence; report it, never as valid.
            registry, metadata_reasons = self._registry_view_by_metadata(data)
            reasons.extend(metadata_reasons)
        return report_with_registry(
            reasons, registry=registry, signatures=details, checked_at=now, file_sha256=file_sha
        )

    def _recorded_result(self, file_sha: str, found: _Found, *, validation_time: datetime) -> crypto.PdfValidationResult | None:
        """The outcome recorded for exactly these bytes of the registry's, if it still holds."""
        registry, ses_signature, record = found
        if registry is None or not registry.is_issued_file or record is None:
            return None
        checks = reusable_checks(self.ctx, record, file_sha256=file_sha, ses_signature=ses_signature, validation_time=validation_time)
        return None if checks is None else crypto.PdfValidationResult(file_sha256=file_sha, signatures=checks)

    def _registry_view_by_metadata(self, data: bytes) -> tuple[RegistryView | None, list[Reason]]:
        """The licence named by the file's embedded GB/T 36903 metadata, with why it was found.

        Only a pointer: anyone can write any identifier into a PDF, so the view says
        ``is_issued_file=False`` and the reason is never ``valid``; metadata that contradicts
        the registry record (holder, issuer, type) is reported as invalid.
        """
        metadata = read_licence_metadata(data) or {}
        identifier = metadata.get("identifier", "")
        if not identifier or len(identifier) > 130:  # the registry column's width
            return None, []
        with self.ctx.database.read() as session:
            cert = CertificateRepository(session).by_identifier(identifier)
            if cert is None or not cert.versions:
                return None, []
            named = [v for v in cert.versions if v.identifier == identifier]
            version = named[-1] if named else cert.versions[-1]
            view = self._view(session, version, is_issued_file=False)
            recorded = {
                "holder_code": cert.holder_id,
                "issuer_code": cert.department.code,
                "type_code": cert.type_code,
            }
        reasons = [reason("identified_by_metadata", detail=identifier)]
        mismatched = [
            key for key, value in recorded.items() if key in metadata and metadata[key] != value
        ]
        if mismatched:
            reasons.append(reason("metadata_mismatch", detail=", ".join(mismatched)))
        return view, reasons

    def _registry_view(self, file_sha: str, revision_shas: list[str]) -> _Found:
        """The registry's view of the file, the GB/T 38540 signature stored with it (SM2), and
        the sealing record of the version whose bytes these are."""
        with self.ctx.database.read() as session:
            versions = CertificateRepository(session).versions_by_sha256([file_sha, *revision_shas])
            if not versions:
                return None, None, None
            version: CertificateVersion = next((v for v in versions if v.sha256 == file_sha), versions[0])
            is_issued_file = version.sha256 == file_sha
            view = self._view(session, version, is_issued_file=is_issued_file)
            return view, version.ses_signature_der, version.sealing_record if is_issued_file else None

    def _revocation_reasons(
        self, signatures: tuple[crypto.SignatureCheck, ...], registry: RegistryView | None
    ) -> list[Reason]:
        """Each seal by a revoked certificate, judged by ``domain/revocation_policy.py``: its
        trusted time-stamp, and the registry's sealing time for the seals of the registered file
        (``registry`` found by the file's bytes; a seal added after them is not the registry's)."""
        seals = [
            s for s in signatures if not s.is_document_timestamp and s.signer_certificate_sha256
        ]
        revocations = RevocationService(self.ctx).revocations(
            [s.signer_certificate_sha256 or "" for s in seals]
        )
        registered = _registered_signatures(signatures, registry)
        found: list[Reason] = []
        for sig in seals:
            revocation = revocations.get(sig.signer_certificate_sha256 or "")
            if revocation is None:
                continue
            by_registry = (
                registry is not None
                and sig.field_name in registered
                and registry.seal_certificate_sha256 == sig.signer_certificate_sha256
            )  # fmt: skip
            found.append(
                revoked_seal_reason(
                    SealRevocationView(revocation.reason, revocation.invalid_from),
                    timestamped_at=sig.timestamp_at if sig.is_timestamp_valid else None,
                    registered_at=registry.sealed_at
                    if by_registry and registry is not None
                    else None,
                )
            )
        return found

    def _seal_data_reason(self, data: bytes, ses_signature: bytes) -> Reason:
        """The GB/T 38540 signature stored for the file; a failure to evaluate it is said as such."""
        try:
            check = crypto.verify_pdf_ranges(
                data,
                ses_signature,
                maker_certificates_der=self.ctx.seal_maker_certificates(),
                trust_roots_der=self.ctx.trust_roots(),
            )
        except (SigningError, KeyUnavailableError) as exc:
            return reason("signature_not_evaluated", detail=f"GB/T 38540 seal data: {exc.message}")
        if check.is_valid:
            return reason("seal_data_valid")
        return reason("seal_data_invalid", detail=", ".join(check.codes))

    def _print_copy_view(self, file_sha: str) -> RegistryView | None:
        """The licence whose print copy these exact bytes are (its SHA-256 is recorded at issuance).

        Only the exact bytes: an edited print copy is not recognised, and a print copy is never
        reported as valid, so there is nothing to gain by presenting one.
        """
        with self.ctx.database.read() as session:
            versions = CertificateRepository(session).versions_by_print_sha256(file_sha)
            if not versions:
                return None
            return replace(
                self._view(session, versions[-1], is_issued_file=False), is_print_copy=True
            )

    def _view(
        self, session: Session, version: CertificateVersion, *, is_issued_file: bool
    ) -> RegistryView:
        """What the registry says about one stored version of a licence, now and when it was signed."""
        cert = version.certificate
        revocation = SealRevocationRepository(session).by_seal(version.seal_id)
        status = effective_status(
            LicenceStatus(cert.status),
            valid_from=cert.valid_from,
            valid_until=cert.valid_until,
            today=self.ctx.clock.now().date(),
        )
        return RegistryView(
            identifier=version.identifier,
            template=cert.template,
            department_code=cert.department.code,
            department_name=cert.department.name,
            status=status.value,
            status_at_signing=_status_at(session, cert.id, version.signed_at),
            valid_from=cert.valid_from,
            valid_until=cert.valid_until,
            version=version.version,
            current_version=cert.current_version,
            current_identifier=cert.identifier,
            is_issued_file=is_issued_file,
            is_current_content=_is_current_content(version),
            sealed_at=version.signed_at,
            seal_compromised_at=revocation.invalid_from
            if revocation and revocation.reason == KEY_COMPROMISE
            else None,
            sha256=version.sha256,
            seal_certificate_sha256=hashlib.sha256(version.seal.certificate_der).hexdigest(),
            seal_revocation=SealRevocationView(revocation.reason, revocation.invalid_from)
            if revocation
            else None,
        )


def _registered_signatures(
    signatures: tuple[crypto.SignatureCheck, ...], registry: RegistryView | None
) -> set[str]:
    """The fields of the signatures inside the registered file: all of them when the bytes are
    the registered file, else those up to the revision that is (a renewal or an appended forgery
    follows it)."""
    if registry is None or registry.sha256 is None:
        return set()
    if registry.is_issued_file:
        return {s.field_name for s in signatures}
    inside: set[str] = set()
    for sig in signatures:  # in revision order
        inside.add(sig.field_name)
        if sig.signed_revision_sha256 == registry.sha256:
            return inside
    return set()


def _is_current_content(version: CertificateVersion) -> bool:
    """Whether a later version only re-sealed this one: the same identifier and the same unsigned page."""
    cert = version.certificate
    current = next((v for v in cert.versions if v.version == cert.current_version), None)
    return (
        current is not None
        and current.identifier == version.identifier
        and current.unsigned_sha256 == version.unsigned_sha256
    )


def signature_details(result: crypto.PdfValidationResult) -> list[SignatureDetail]:
    """Each signature of a validated PDF as a report states it."""
    return [
        SignatureDetail(
            field_name=sig.field_name,
            signer=sig.signer_common_name or "",
            signer_organization=sig.signer_organization,
            algorithm=sig.algorithm or "unknown",
            signed_at=sig.signing_time,
            is_intact=sig.is_intact,
            is_trusted=sig.is_trusted,
            trust_problem=sig.trust_explanation,
            covers_whole_file=sig.covers_whole_file,
            modification_level=sig.modification_level.value,
            changes=sig.modification_description or None,
            timestamped_at=sig.timestamp_at if sig.is_timestamp_valid else None,
            proven_by=sig.proven_by,
        )
        for sig in result.signatures
    ]


def signature_reasons(result: crypto.PdfValidationResult) -> list[Reason]:
    """What the file's signatures say: broken, not evaluated, changed after the seal, untrusted."""
    reasons: list[Reason] = []
    seals = [s for s in result.signatures if not s.is_document_timestamp]
    for sig in result.signatures:
        if not sig.is_evaluated:
            reasons.append(reason("signature_not_evaluated", detail=sig.field_name))
        elif not sig.is_intact:
            reasons.append(reason("signature_broken", detail=f"{sig.field_name}: {sig.problem}"))
        elif not sig.is_document_timestamp:
            if sig.changes:
                reasons.append(
                    reason(
                        "modified_after_signing",
                        detail=sig.modification_description,
                        detail_zh="；".join(c.describe_zh() for c in sig.changes[:_LISTED_CHANGES])
                        + (
                            f"；另有 {len(sig.changes) - _LISTED_CHANGES} 处"
                            if len(sig.changes) > _LISTED_CHANGES
                            else ""
                        ),
                    )
                )
            if not sig.is_trusted:
                reasons.append(reason("signer_untrusted", detail=sig.trust_explanation))
            elif sig.proven_by is not None:
                reasons.append(reason("proven_by_archival_timestamp", detail=sig.proven_by))
    if result.trailing_bytes:
        intact = bool(seals) and all(s.is_intact for s in seals)
        reasons.append(
            reason(
                "appended_data",
                detail=f"{result.trailing_bytes} bytes; the signed revision is {'intact' if intact else 'not intact'}",
                detail_zh=f"{result.trailing_bytes} 字节；签章所覆盖的修订{'完好' if intact else '已损坏'}",
            )
        )
    if not seals:
        reasons.append(reason("no_signature"))
    elif all(r.code == "proven_by_archival_timestamp" for r in reasons):
        reasons.insert(0, reason("signature_valid"))
    return reasons


def _status_at(session: Session, certificate_id: int, at: datetime) -> str:
    """The stored state of a licence at ``at``: the last recorded change by then (valid before any)."""
    change = StatusHistoryRepository(session).last_before(certificate_id, at)
    return change.to_status if change is not None else LicenceStatus.VALID.value
