"""Verifying an OFD licence: its GB/T 38540 seals, then the registry — the PDF report's shape.

The OFD outcome is told in the PDF's reason codes, so a caller reads one vocabulary whatever
the file format:

* ``signature_broken`` — a protected file changed or is missing, or the SES signature over
  ``Signature.xml`` (dataHash) does not hold;
* ``modified_after_signing`` — files in the package that no seal protects (an added page,
  picture or font);
* ``signer_untrusted`` — the seal certificate does not chain to a trust root;
* ``seal_data_valid`` / ``seal_data_invalid`` — the GB/T 38540 seal data (maker's signature,
  maker trust, seal validity window, signer in the seal's list);
* ``signature_valid``, ``no_signature`` and the registry reasons as for PDF.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.domain.registry_reasons import report_with_registry
from certsvc.domain.reports import Reason, RegistryView, SignatureDetail, VerificationReport, reason
from certsvc.domain.revocation_policy import revoked_seal_reason
from certsvc.services.context import ServiceContext
from certsvc.storage.orm import CertificateVersion
from certsvc.storage.repositories import CertificateRepository
from certsvc.storage.repositories_ofd import OfdRepository

__all__ = ["OfdVerification", "ofd_seal_reasons"]

ViewOf = Callable[[Session, CertificateVersion, bool], RegistryView]  # (…, is_issued_file)
# Codes of ses_verification.verify_ses_signature that mean the signed bytes do not match, not a seal problem.
_INTEGRITY_CODES = frozenset(
    {"ses_malformed", "ses_signature_invalid", "data_hash_mismatch", "property_info_mismatch"}
)
# GB/T 36903 names in OFD CustomDatas → the registry fields they must agree with.
_METADATA_FIELDS = {
    "持证主体代码": "holder_code",
    "证照颁发机构代码": "issuer_code",
    "证照类型代码": "type_code",
}


def _detail(check: crypto.OfdSignatureCheck, unreferenced: tuple[str, ...]) -> SignatureDetail:
    changes = []
    if check.changed_files:
        changes.append("changed: " + ", ".join(check.changed_files))
    if check.missing_files:
        changes.append("missing: " + ", ".join(check.missing_files))
    if unreferenced:
        changes.append("not protected by the seal: " + ", ".join(unreferenced))
    return SignatureDetail(
        field_name=check.signature_path,
        signer=check.signer_common_name or "",
        signer_organization=check.signer_organization,
        algorithm="sm2-sm3",
        signed_at=check.signing_time,
        is_intact=check.is_intact,
        is_trusted=check.is_trusted,
        trust_problem=check.trust_explanation,
        covers_whole_file=check.references_intact and not unreferenced,
        modification_level="none" if check.is_intact and not unreferenced else "other",
        changes="; ".join(changes) or None,
        timestamped_at=check.timestamp_at,
    )


def ofd_seal_reasons(
    result: crypto.OfdValidationResult,
) -> tuple[list[Reason], list[SignatureDetail]]:
    """What an OFD's seals say, in the PDF report's reason codes (no registry reasons yet)."""
    reasons: list[Reason] = []
    details = [_detail(check, result.unreferenced_files) for check in result.signatures]
    for check, detail in zip(result.signatures, details, strict=True):
        broken = set(check.ses_codes) & _INTEGRITY_CODES
        if not check.references_intact or broken:
            reasons.append(
                reason("signature_broken", detail=detail.changes or ", ".join(sorted(broken)))
            )
            continue
        if not check.is_trusted:
            reasons.append(reason("signer_untrusted", detail=check.trust_explanation))
        seal_problems = [c for c in check.ses_codes if c not in _INTEGRITY_CODES] + list(
            check.problems
        )
        reasons.append(
            reason("seal_data_invalid", detail=", ".join(seal_problems))
            if seal_problems
            else reason("seal_data_valid")
        )
    if result.unreferenced_files:
        reasons.append(
            reason(
                "modified_after_signing",
                detail="files not protected by the seal: " + ", ".join(result.unreferenced_files),
            )
        )
    if not result.signatures:
        reasons.append(reason("no_signature"))
    elif not any(r.verdict.value != "valid" for r in reasons):
        reasons.insert(0, reason("signature_valid"))

    return reasons, details


class OfdVerification:
    def __init__(self, ctx: ServiceContext, *, view_of: ViewOf) -> None:
        self.ctx = ctx
        self.view_of = view_of

    def verify(self, data: bytes) -> VerificationReport:
        """Check an OFD that someone holds. The outcome is a report, whatever it says.

        Raises:
            DocumentTooLargeError: larger than ``max_upload_bytes``.
            InvalidDocumentError: not a readable OFD package, or one refused as unsafe.
        """
        now = self.ctx.clock.now()
        makers = self.ctx.seal_maker_certificates()
        result = crypto.validate_ofd(
            data,
            trust_roots_der=self.ctx.trust_roots(),
            maker_certificates_der=makers,
            intermediates_der=makers,  # the development seal CA issues both seals and makers
            validation_time=now,
            max_bytes=self.ctx.settings.max_upload_bytes,
        )
        reasons, details = ofd_seal_reasons(result)

        registry = self._registry_view(result.file_sha256)
        if registry is not None and registry.seal_revocation is not None:
            # The registered OFD: the registry's sealing time proves when (domain/revocation_policy.py).
            reasons.append(
                revoked_seal_reason(
                    registry.seal_revocation, timestamped_at=None, registered_at=registry.sealed_at
                )
            )
        if registry is None:
            registry, metadata_reasons = self._registry_view_by_metadata(result.metadata)
            reasons.extend(metadata_reasons)
        return report_with_registry(
            reasons,
            registry=registry,
            signatures=details,
            checked_at=now,
            file_sha256=result.file_sha256,
        )

    def _registry_view(self, file_sha: str) -> RegistryView | None:
        with self.ctx.database.read() as session:
            row = OfdRepository(session).by_sha256(file_sha)
            if row is None:
                return None
            version = CertificateRepository(session).version(row.certificate_id, row.version)
            return None if version is None else self.view_of(session, version, True)

    def _registry_view_by_metadata(
        self, metadata: dict[str, str]
    ) -> tuple[RegistryView | None, list[Reason]]:
        """As for PDF: the licence the OFD's CustomDatas name — a pointer, never a proof."""
        identifier = metadata.get("电子证照标识", "")
        if not identifier or len(identifier) > 130:
            return None, []
        with self.ctx.database.read() as session:
            cert = CertificateRepository(session).by_identifier(identifier)
            if cert is None or not cert.versions:
                return None, []
            named = [v for v in cert.versions if v.identifier == identifier]
            view = self.view_of(session, named[-1] if named else cert.versions[-1], False)
            recorded = {
                "holder_code": cert.holder_id,
                "issuer_code": cert.department.code,
                "type_code": cert.type_code,
            }
        reasons = [reason("identified_by_metadata", detail=identifier)]
        claimed = {
            field: metadata[name] for name, field in _METADATA_FIELDS.items() if name in metadata
        }
        mismatched = [
            key for key, value in recorded.items() if key in claimed and claimed[key] != value
        ]
        if mismatched:
            reasons.append(reason("metadata_mismatch", detail=", ".join(mismatched)))
        return view, reasons
