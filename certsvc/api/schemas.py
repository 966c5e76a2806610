"""Response shapes of the HTTP API (requests are shared with the CLI in services.requests)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from certsvc.domain.reports import VerificationReport
from certsvc.services.issuance import IssuedCertificate
from certsvc.services.registry import CertificateInfo

__all__ = [
    "CertificateIssued",
    "CertificateRead",
    "Links",
    "ReasonRead",
    "RegistryRead",
    "SignatureRead",
    "VerificationRead",
    "VersionRead",
]


class Links(BaseModel):
    self: str
    pdf: str
    print_pdf: str
    verification_page: str


class CertificateIssued(BaseModel):
    identifier: str
    status: str
    sha256: str
    version: int
    template: str
    links: Links

    @classmethod
    def of(cls, issued: IssuedCertificate, *, api_base: str, public_url: str) -> CertificateIssued:
        return cls(
            identifier=issued.identifier,
            status=issued.status,
            sha256=issued.sha256,
            version=issued.version,
            template=issued.template,
            links=_links(issued.identifier, api_base=api_base, public_url=public_url),
        )


def _links(identifier: str, *, api_base: str, public_url: str) -> Links:
    me = f"{api_base}/api/v1/certificates/{identifier}"
    return Links(
        self=me,
        pdf=f"{me}/pdf",
        print_pdf=f"{me}/pdf?variant=print",
        verification_page=f"{public_url.rstrip('/')}/v/{identifier}",
    )


class VersionRead(BaseModel):
    version: int
    identifier: str
    sha256: str
    signed_at: datetime
    reason: str


class CertificateRead(BaseModel):
    identifier: str
    template: str
    type_code: str
    department_code: str
    department_name: str
    holder: dict[str, str]
    fields: dict[str, Any]
    status: str
    valid_from: date
    valid_until: date
    issued_at: datetime
    current_version: int
    versions: list[VersionRead]
    links: Links

    @classmethod
    def of(cls, info: CertificateInfo, *, api_base: str, public_url: str) -> CertificateRead:
        return cls(
            identifier=info.identifier,
            template=info.template,
            type_code=info.type_code,
            department_code=info.department_code,
            department_name=info.department_name,
            holder={"name": info.holder_name, "id_type": info.holder_id_type, "id": info.holder_id},
            fields=info.fields,
            status=info.status,
            valid_from=info.valid_from,
            valid_until=info.valid_until,
            issued_at=info.issued_at,
            current_version=info.current_version,
            versions=[
                VersionRead(
                    version=v.version,
                    identifier=v.identifier,
                    sha256=v.sha256,
                    signed_at=v.signed_at,
                    reason=v.reason,
                )
                for v in info.versions
            ],
            links=_links(info.identifier, api_base=api_base, public_url=public_url),
        )


class ReasonRead(BaseModel):
    code: str
    verdict: str
    message_zh: str
    message_en: str


class SignatureRead(BaseModel):
    field_name: str
    signer: str
    signer_organization: str | None
    algorithm: str
    signed_at: datetime | None
    is_intact: bool
    is_trusted: bool
    trust_problem: str | None
    covers_whole_file: bool
    modification_level: str
    changes: str | None
    timestamped_at: datetime | None = None
    proven_by: str | None = None


class RegistryRead(BaseModel):
    identifier: str
    template: str
    department_code: str
    department_name: str
    status: str
    status_at_signing: str
    valid_from: date
    valid_until: date
    version: int
    current_version: int
    current_identifier: str
    is_issued_file: bool
    is_print_copy: bool
    is_current_content: bool
    sealed_at: datetime | None
    seal_compromised_at: datetime | None


class VerificationRead(BaseModel):
    verdict: str
    reasons: list[ReasonRead]
    signatures: list[SignatureRead]
    registry: RegistryRead | None
    checked_at: datetime
    file_sha256: str

    @classmethod
    def of(cls, report: VerificationReport) -> VerificationRead:
        return cls(
            verdict=report.verdict.value,
            reasons=[
                ReasonRead(
                    code=r.code,
                    verdict=r.verdict.value,
                    message_zh=r.message_zh,
                    message_en=r.message_en,
                )
                for r in report.reasons
            ],
            signatures=[
                SignatureRead.model_validate(s, from_attributes=True) for s in report.signatures
            ],
            registry=RegistryRead.model_validate(report.registry, from_attributes=True)
            if report.registry
            else None,
            checked_at=report.checked_at,
            file_sha256=report.file_sha256,
        )
