"""Reading issued licences and their files from the registry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from enum import StrEnum
from typing import Any

from certsvc.domain.identifiers import public_holder_name
from certsvc.domain.paging import Page, PageRequest
from certsvc.domain.status import LicenceStatus, effective_status
from certsvc.domain.status_reasons import NEXT_STEPS_ZH, ReasonCategory
from certsvc.errors import NotFoundError, PermissionDeniedError, ValidationFailedError
from certsvc.services.access import licence_access, visible_licence
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.downloads import Download
from certsvc.services.ofd_versions import require_ofd
from certsvc.services.principals import Principal, Role
from certsvc.services.provisioning import department_by_code
from certsvc.storage.orm import Certificate, CertificateVersion
from certsvc.storage.repositories import CertificateRepository
from certsvc.storage.repositories_lifecycle import StatusHistoryRepository
from certsvc.storage.repositories_ltv import LtvRenewalRepository
from certsvc.storage.repositories_search import CertificateQuery, CertificateSearchRepository

__all__ = [
    "CertificateFilter",
    "CertificateInfo",
    "FileVariant",
    "PublicStatus",
    "RegistryService",
    "VersionInfo",
    "public_status",
]


class FileVariant(StrEnum):
    ELECTRONIC = "electronic"  # the digitally sealed PDF
    PRINT = "print"  # the copy for printing, seal image drawn on the page


@dataclass(frozen=True, slots=True)
class VersionInfo:
    version: int
    identifier: str
    sha256: str
    seal_id: int
    signed_at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    identifier: str
    template: str
    type_code: str
    department_code: str
    department_name: str
    holder_name: str
    holder_id_type: str
    holder_id: str
    fields: dict[str, Any]
    status: str
    valid_from: date
    valid_until: date
    issued_at: datetime
    current_version: int
    versions: tuple[VersionInfo, ...]


@dataclass(frozen=True, slots=True)
class CertificateFilter:
    """What the certificate list is narrowed to; ``issued_from <= issued_at < issued_until``."""

    status: LicenceStatus | None = None
    template: str | None = None
    holder_id: str | None = None
    licence_number: str | None = None
    issued_from: datetime | None = None
    issued_until: datetime | None = None
    department_code: str | None = None  # operators only: an issuer always sees its own department


class RegistryService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def search(
        self,
        where: CertificateFilter,
        *,
        principal: Principal,
        page: PageRequest,
        request_id: str | None = None,
    ) -> Page[CertificateInfo]:
        """One page of the licences the caller may see, newest first (the read is audited).

        Raises:
            NotFoundError: ``department_code`` names no department.
            ValidationFailedError: an issuer asked for another department's list.
            PermissionDeniedError: a non-operator client without a department.
        """
        if principal.role is not Role.OPERATOR and principal.department_id is None:
            raise PermissionDeniedError("this client belongs to no department")
        if principal.role is not Role.OPERATOR and where.department_code not in (
            None,
            principal.department_code,
        ):
            raise ValidationFailedError(
                "a department lists its own licences only",
                details=[
                    {
                        "field": "department",
                        "problem": "leave it out, or give your own department's code",
                    }
                ],
            )
        with self.ctx.database.read() as session:
            department_id = principal.department_id if principal.role is not Role.OPERATOR else None
            if where.department_code is not None:
                department_id = department_by_code(session, where.department_code).id
            query = CertificateQuery(
                department_id=department_id,
                status=where.status,
                template=where.template,
                holder_id=where.holder_id,
                licence_number=where.licence_number,
                issued_from=where.issued_from,
                issued_until=where.issued_until,
            )
            today = self.ctx.clock.now().date()
            found = (
                CertificateSearchRepository(session)
                .search(query, page, today=today)
                .map(lambda cert: _info(cert, today=today))
            )
        scope = where.department_code or principal.department_code or "*"
        self._audit(
            principal,
            "certificate.list",
            f"department:{scope}",
            request_id,
            details={"count": len(found.items)},
        )
        return found

    def get(
        self, identifier: str, *, principal: Principal, request_id: str | None = None
    ) -> CertificateInfo:
        """Metadata of one licence the caller may see (the read is audited).

        Raises:
            NotFoundError: no such licence, or it belongs to another department (the same
                answer, so other departments' identifiers are not confirmed).
        """
        with (
            licence_access(self.ctx, principal, action="read", request_id=request_id),
            self.ctx.database.read() as session,
        ):
            cert = visible_licence(session, identifier, principal)
            info = _info(cert, today=self.ctx.clock.now().date())
        self._audit(principal, "certificate.read", info.identifier, request_id)
        return info

    def file(
        self,
        identifier: str,
        *,
        principal: Principal,
        variant: FileVariant = FileVariant.ELECTRONIC,
        revision: int | None = None,
        request_id: str | None = None,
    ) -> Download:
        """The stored PDF of the version named by ``identifier`` (or the current one).

        ``revision`` picks an earlier registry revision of the licence, e.g. the file as it was
        before a batch re-signing (which keeps the printed identifier).

        Raises:
            NotFoundError: as for ``get``, or no such revision.
            StorageError: the stored file fails its integrity check (after the audit record).
        """
        with (
            licence_access(self.ctx, principal, action="download", request_id=request_id),
            self.ctx.database.read() as session,
        ):
            version = _pick_version(
                visible_licence(session, identifier, principal), identifier, revision
            )
            digest = version.print_sha256
            if variant is FileVariant.ELECTRONIC:
                # The newest archival renewal of the file, if any (``certsvc ltv renew``).
                key = (version.certificate_id, version.version)
                digest = LtvRenewalRepository(session).newest_files([key]).get(key, version.sha256)
            name, number = version.identifier, version.version
        self._audit(
            principal,
            "certificate.download",
            name,
            request_id,
            details={"variant": variant.value, "revision": number},
        )
        return Download.open(self.ctx.blobs, name, digest)

    def ofd_file(
        self,
        identifier: str,
        *,
        principal: Principal,
        revision: int | None = None,
        request_id: str | None = None,
    ) -> Download:
        """The sealed OFD of the version named by ``identifier`` (or ``revision``), like :meth:`file`.

        Raises:
            NotFoundError: as for :meth:`file`.
            ConflictError: ``ofd_needs_sm2_seal`` — that version was sealed with an ECDSA/RSA seal.
        """
        with (
            licence_access(self.ctx, principal, action="download", request_id=request_id),
            self.ctx.database.read() as session,
        ):
            version = _pick_version(
                visible_licence(session, identifier, principal), identifier, revision
            )
            ofd = require_ofd(session, version.certificate_id, version.version)
            name, number = version.identifier, version.version
        self._audit(
            principal,
            "certificate.download",
            name,
            request_id,
            details={"variant": "ofd", "revision": number},
        )
        return Download.open(self.ctx.blobs, name, ofd.sha256)

    def seal_signature(
        self, identifier: str, *, principal: Principal, request_id: str | None = None
    ) -> bytes:
        """The GB/T 38540 ``SES_Signature`` (DER) stored with the version named by ``identifier``.

        Raises:
            NotFoundError: as for ``get``, or the version was not sealed with an SM2 seal.
        """
        with (
            licence_access(self.ctx, principal, action="seal_signature", request_id=request_id),
            self.ctx.database.read() as session,
        ):
            version = _version_named(visible_licence(session, identifier, principal), identifier)
            if version.ses_signature_der is None:
                raise NotFoundError(
                    "this licence version has no GB/T 38540 seal signature (not an SM2 seal)"
                )
            name, signature = version.identifier, version.ses_signature_der
        self._audit(principal, "certificate.seal_signature", name, request_id)
        return signature

    def _audit(
        self,
        principal: Principal,
        action: str,
        target: str,
        request_id: str | None,
        *,
        details: dict[str, object] | None = None,
    ) -> None:
        # The look-up reads without the write lock; only this append of the audit row writes.
        with self.ctx.database.transaction() as session:
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=principal,
                action=action,
                target=target,
                request_id=request_id,
                details=details,
            )


def _version_named(cert: Certificate, identifier: str) -> CertificateVersion:
    """The newest revision carrying ``identifier``, or the current one for the current identifier."""
    named = [v for v in cert.versions if v.identifier == identifier]
    if named:
        return max(named, key=lambda v: v.version)
    return next(v for v in cert.versions if v.version == cert.current_version)


def _info(cert: Certificate, *, today: date) -> CertificateInfo:
    return CertificateInfo(
        identifier=cert.identifier,
        template=cert.template,
        type_code=cert.type_code,
        department_code=cert.department.code,
        department_name=cert.department.name,
        holder_name=cert.holder_name,
        holder_id_type=cert.holder_id_type,
        holder_id=cert.holder_id,
        fields=dict(cert.data),
        status=effective_status(
            LicenceStatus(cert.status),
            valid_from=cert.valid_from,
            valid_until=cert.valid_until,
            today=today,
        ).value,
        valid_from=cert.valid_from,
        valid_until=cert.valid_until,
        issued_at=cert.issued_at,
        current_version=cert.current_version,
        versions=tuple(
            VersionInfo(v.version, v.identifier, v.sha256, v.seal_id, v.signed_at, v.reason)
            for v in cert.versions
        ),
    )


@dataclass(frozen=True, slots=True)
class PublicStatus:
    """What anyone may learn from a bare identifier: its state, the validity, the holder masked.

    The holder appears only masked (张*三, 锡林**有限公司) and the reason for a suspension or
    revocation only as its category: walking identifiers learns no name and no case file.
    """

    identifier: str
    licence_name: str
    department_name: str
    status: str
    is_current_version: bool
    current_identifier: str
    holder_name_masked: str
    valid_from: date
    valid_until: date
    changed_on: date | None  # when it was suspended, revoked or cancelled (Beijing date)
    reason_category_zh: str | None
    next_steps_zh: str


def public_status(ctx: ServiceContext, identifier: str) -> PublicStatus:
    """Status of a licence for the public verification page.

    Raises:
        NotFoundError: unknown identifier.
    """
    with ctx.database.read() as session:
        cert = CertificateRepository(session).by_identifier(identifier)
        if cert is None:
            raise NotFoundError("no such licence")
        status = effective_status(
            LicenceStatus(cert.status),
            valid_from=cert.valid_from,
            valid_until=cert.valid_until,
            today=ctx.clock.now().date(),
        )
        is_current = cert.identifier == identifier
        shown = status.value if is_current else LicenceStatus.SUPERSEDED.value
        change = None
        if shown in _CHANGED_STATES:
            change = next(
                (
                    c
                    for c in reversed(StatusHistoryRepository(session).for_certificate(cert.id))
                    if c.to_status == shown
                ),
                None,
            )
        return PublicStatus(
            identifier=identifier,
            licence_name=ctx.templates.get(cert.template).name,
            department_name=cert.department.name,
            status=shown,
            is_current_version=is_current,
            current_identifier=cert.identifier,
            holder_name_masked=public_holder_name(cert.holder_name),
            valid_from=cert.valid_from,
            valid_until=cert.valid_until,
            changed_on=change.at.astimezone(_BEIJING).date() if change is not None else None,
            reason_category_zh=_category_label(change.category) if change is not None else None,
            next_steps_zh=NEXT_STEPS_ZH.get(shown, ""),
        )


_CHANGED_STATES = frozenset(
    {LicenceStatus.SUSPENDED.value, LicenceStatus.REVOKED.value, LicenceStatus.CANCELLED.value}
)
_BEIJING = timezone(timedelta(hours=8), "CST")  # dates on licences and pages are Beijing dates


def _category_label(value: str) -> str:
    try:
        return ReasonCategory(value).label_zh
    except ValueError:
        return ReasonCategory.OTHER.label_zh


def _pick_version(cert: Certificate, identifier: str, revision: int | None) -> CertificateVersion:
    """The version named by ``identifier``, or the registry ``revision`` when one is asked for."""
    if revision is None:
        return _version_named(cert, identifier)
    found = next((v for v in cert.versions if v.version == revision), None)
    if found is None:
        raise NotFoundError(f"this licence has no revision {revision}")
    return found
