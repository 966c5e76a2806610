"""Reading issued licences and their files from the registry."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from certsvc.domain.status import LicenceStatus, effective_status
from certsvc.errors import NotFoundError
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role
from certsvc.storage.orm import Certificate, CertificateVersion
from certsvc.storage.repositories import CertificateRepository

__all__ = ["CertificateInfo", "FileVariant", "PublicStatus", "RegistryService", "VersionInfo", "public_status"]


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


class RegistryService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def get(self, identifier: str, *, principal: Principal, request_id: str | None = None) -> CertificateInfo:
        """Metadata of one licence the caller may see.

        Raises:
            NotFoundError: no such licence, or it belongs to another department (the same
                answer, so other departments' identifiers are not confirmed).
        """
        with self._refusals_recorded(principal), self.ctx.database.transaction() as session:
            cert = self._visible(CertificateRepository(session).by_identifier(identifier), principal)
            info = _info(cert, today=self.ctx.clock.now().date())
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=principal,
                action="certificate.read",
                target=cert.identifier,
                request_id=request_id,
            )
            return info

    def file(
        self,
        identifier: str,
        *,
        principal: Principal,
        variant: FileVariant = FileVariant.ELECTRONIC,
        revision: int | None = None,
        request_id: str | None = None,
    ) -> tuple[str, bytes]:
        """The stored PDF of the version named by ``identifier`` (or the current one).

        ``revision`` picks an earlier registry revision of the licence, e.g. the file as it was
        before a batch re-signing (which keeps the printed identifier).

        Raises:
            NotFoundError: as for ``get``, or no such revision.
        """
        with self._refusals_recorded(principal), self.ctx.database.transaction() as session:
            repo = CertificateRepository(session)
            cert = self._visible(repo.by_identifier(identifier), principal)
            if revision is None:
                version = _version_named(cert, identifier)
            else:
                found = next((v for v in cert.versions if v.version == revision), None)
                if found is None:
                    raise NotFoundError(f"this licence has no revision {revision}")
                version = found
            digest = version.sha256 if variant is FileVariant.ELECTRONIC else version.print_sha256
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=principal,
                action="certificate.download",
                target=version.identifier,
                request_id=request_id,
                details={"variant": variant.value, "revision": version.version},
            )
            name = version.identifier
        return name, self.ctx.blobs.get(digest)

    def seal_signature(self, identifier: str, *, principal: Principal, request_id: str | None = None) -> bytes:
        """The GB/T 38540 ``SES_Signature`` (DER) stored with the version named by ``identifier``.

        Raises:
            NotFoundError: as for ``get``, or the version was not sealed with an SM2 seal.
        """
        with self._refusals_recorded(principal), self.ctx.database.transaction() as session:
            cert = self._visible(CertificateRepository(session).by_identifier(identifier), principal)
            version = _version_named(cert, identifier)
            if version.ses_signature_der is None:
                raise NotFoundError("this licence version has no GB/T 38540 seal signature (not an SM2 seal)")
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=principal,
                action="certificate.seal_signature",
                target=version.identifier,
                request_id=request_id,
            )
            return version.ses_signature_der

    def _visible(self, cert: Certificate | None, principal: Principal) -> Certificate:
        if cert is None:
            raise NotFoundError("no such licence")
        if principal.role is not Role.OPERATOR and cert.department_id != principal.department_id:
            # The caller gets the same answer as for an unknown identifier; `_refusals_recorded`
            # records the attempt once the caller's transaction has been rolled back.
            raise _OtherDepartmentError(cert.identifier)
        return cert

    @contextmanager
    def _refusals_recorded(self, principal: Principal) -> Iterator[None]:
        try:
            yield
        except _OtherDepartmentError as refused:
            self._record_refusal(refused.identifier, principal)
            raise NotFoundError("no such licence") from None

    def _record_refusal(self, identifier: str, principal: Principal) -> None:
        with self.ctx.database.transaction() as session:
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=principal,
                action="certificate.read",
                target=identifier,
                outcome="refused_other_department",
            )


class _OtherDepartmentError(NotFoundError):
    """Another department's licence: answered as not found, recorded as a refused read."""

    def __init__(self, identifier: str) -> None:
        super().__init__("no such licence")
        self.identifier = identifier


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
            LicenceStatus(cert.status), valid_from=cert.valid_from, valid_until=cert.valid_until, today=today
        ).value,
        valid_from=cert.valid_from,
        valid_until=cert.valid_until,
        issued_at=cert.issued_at,
        current_version=cert.current_version,
        versions=tuple(
            VersionInfo(v.version, v.identifier, v.sha256, v.seal_id, v.signed_at, v.reason) for v in cert.versions
        ),
    )


@dataclass(frozen=True, slots=True)
class PublicStatus:
    """What anyone may learn from a bare identifier: whether it exists and its state, no holder data."""

    identifier: str
    licence_name: str
    department_name: str
    status: str
    is_current_version: bool
    current_identifier: str


def public_status(ctx: ServiceContext, identifier: str) -> PublicStatus:
    """Status of a licence for the public verification page.

    Raises:
        NotFoundError: unknown identifier.
    """
    with ctx.database.session() as session:
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
        return PublicStatus(
            identifier=identifier,
            licence_name=ctx.templates.get(cert.template).name,
            department_name=cert.department.name,
            status=status.value if is_current else LicenceStatus.SUPERSEDED.value,
            is_current_version=is_current,
            current_identifier=cert.identifier,
        )
