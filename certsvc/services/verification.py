"""Verifying a licence file: its signatures, then what the registry knows about it."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.domain.reports import Reason, RegistryView, SignatureDetail, VerificationReport, reason
from certsvc.domain.status import LicenceStatus, effective_status
from certsvc.errors import DocumentTooLargeError, InvalidDocumentError
from certsvc.rendering import read_licence_metadata
from certsvc.services.context import ServiceContext
from certsvc.services.verification_ofd import OfdVerification
from certsvc.storage.orm import CertificateVersion
from certsvc.storage.repositories import CertificateRepository
from certsvc.storage.repositories_lifecycle import StatusHistoryRepository

__all__ = ["VerificationService"]

# Changes after signing that cannot alter what a licence page shows.
_HARMLESS_MODIFICATIONS = {crypto.ModificationLevel.NONE, crypto.ModificationLevel.ARCHIVAL, crypto.ModificationLevel.FORM_FILLING}
_STATUS_REASON = {
    LicenceStatus.VALID: "licence_valid",
    LicenceStatus.SUSPENDED: "licence_suspended",
    LicenceStatus.REVOKED: "licence_revoked",
    LicenceStatus.CANCELLED: "licence_cancelled",
    LicenceStatus.EXPIRED: "licence_expired",
}


class VerificationService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def verify_file(self, data: bytes) -> VerificationReport:
        """Check a licence file someone holds, PDF or OFD, told apart by content (not by name).

        Raises:
            DocumentTooLargeError: larger than ``max_upload_bytes``.
            InvalidDocumentError: neither a PDF nor an OFD, or too damaged (or unsafe) to evaluate.
        """
        if crypto.is_ofd(data):
            return OfdVerification(self.ctx, view_of=lambda s, v, issued: self._view(s, v, is_issued_file=issued)).verify(data)
        return self.verify_pdf(data)

    def verify_pdf(self, data: bytes) -> VerificationReport:
        """Check a PDF that someone holds. The outcome is a report, whatever it says.

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
        result = crypto.validate_pdf(data, trust_roots_der=self.ctx.trust_roots(), validation_time=now)
        file_sha = hashlib.sha256(data).hexdigest()

        reasons: list[Reason] = []
        details: list[SignatureDetail] = []
        for sig in result.signatures:
            details.append(
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
                )
            )
            if not sig.is_intact:
                reasons.append(reason("signature_broken", detail=sig.field_name))
                continue
            if sig.modification_level not in _HARMLESS_MODIFICATIONS:
                reasons.append(
                    reason("modified_after_signing", detail=sig.modification_description or sig.modification_level.value)
                )
            if not sig.is_trusted:
                reasons.append(reason("signer_untrusted", detail=sig.trust_explanation))
        if not result.signatures:
            reasons.append(reason("no_signature"))
        elif not reasons:
            reasons.append(reason("signature_valid"))

        revisions = [s.signed_revision_sha256 for s in result.signatures if s.signed_revision_sha256]
        registry, ses_signature = self._registry_view(file_sha, revisions)
        if ses_signature is not None:
            check = crypto.verify_pdf_ranges(
                data,
                ses_signature,
                maker_certificates_der=self.ctx.seal_maker_certificates(),
                trust_roots_der=self.ctx.trust_roots(),
            )
            reasons.append(
                reason("seal_data_valid")
                if check.is_valid
                else reason("seal_data_invalid", detail=", ".join(check.codes))
            )
        if registry is None:
            # Not the issued bytes (re-saved, printed to PDF, QR unreadable, or forged): the file's
            # own GB/T 36903 metadata may still name the licence; report it, never as valid.
            registry, metadata_reasons = self._registry_view_by_metadata(data)
            reasons.extend(metadata_reasons)
        if registry is None:
            reasons.append(reason("not_in_registry"))
        else:
            if registry.version < registry.current_version:
                reasons.append(
                    reason("licence_superseded", detail=f"superseded by version {registry.current_version}: {registry.current_identifier}")
                )
            status = LicenceStatus(registry.status)
            if status in _STATUS_REASON:
                reasons.append(reason(_STATUS_REASON[status]))
        return VerificationReport(
            verdict=VerificationReport.combine(reasons),
            reasons=tuple(reasons),
            signatures=tuple(details),
            registry=registry,
            checked_at=now,
            file_sha256=file_sha,
        )

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
            recorded = {"holder_code": cert.holder_id, "issuer_code": cert.department.code, "type_code": cert.type_code}
        reasons = [reason("identified_by_metadata", detail=identifier)]
        mismatched = [key for key, value in recorded.items() if key in metadata and metadata[key] != value]
        if mismatched:
            reasons.append(reason("metadata_mismatch", detail=", ".join(mismatched)))
        return view, reasons

    def _registry_view(self, file_sha: str, revision_shas: list[str]) -> tuple[RegistryView | None, bytes | None]:
        """The registry's view of the file, and the GB/T 38540 signature stored with it (SM2)."""
        with self.ctx.database.read() as session:
            versions = CertificateRepository(session).versions_by_sha256([file_sha, *revision_shas])
            if not versions:
                return None, None
            version: CertificateVersion = next((v for v in versions if v.sha256 == file_sha), versions[0])
            view = self._view(session, version, is_issued_file=version.sha256 == file_sha)
            return view, version.ses_signature_der

    def _view(self, session: Session, version: CertificateVersion, *, is_issued_file: bool) -> RegistryView:
        """What the registry says about one stored version of a licence, now and when it was signed."""
        cert = version.certificate
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
        )


def _status_at(session: Session, certificate_id: int, at: datetime) -> str:
    """The stored state of a licence at ``at``: the last recorded change by then (valid before any)."""
    change = StatusHistoryRepository(session).last_before(certificate_id, at)
    return change.to_status if change is not None else LicenceStatus.VALID.value
