"""What a hub answers about its members' licences: verification and GB/T 36906-style queries.

A file is verified against the roots of the member that delivered it (the hub trusts no
member's seals for another's licences), and every answer names that member and the 盟 issuer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime

from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.domain.registry_reasons import report_with_registry
from certsvc.domain.reports import RegistryView, VerificationReport
from certsvc.domain.status import LicenceStatus, effective_status
from certsvc.errors import (
    DocumentTooLargeError,
    InvalidDocumentError,
    NotFoundError,
    ValidationFailedError,
)
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.downloads import Download
from certsvc.services.hub import require_hub
from certsvc.services.hub_ofd import is_ofd, ofd_chain, verify_ofd_against
from certsvc.services.principals import Principal
from certsvc.services.verification import signature_details, signature_reasons
from certsvc.storage.orm_connector import HubLicence, HubLicenceFile
from certsvc.storage.repositories_connector import HubRepository

__all__ = ["HubLicenceInfo", "HubQueries", "HubVerification", "LicenceQuery"]

_MAX_RESULTS = 200


@dataclass(frozen=True, slots=True)
class HubLicenceInfo:
    member: str  # the 盟 deployment that delivered it
    identifier: str
    identifier_base: str
    version: int
    status: str  # effective today
    type_code: str
    holder_code: str
    issuer_code: str
    issuer_name: str
    valid_from: date
    valid_until: date
    metadata: dict[str, str]  # GB/T 36903, as sealed into the file
    file_sha256: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class HubVerification:
    member: str | None  # None: no member delivered this file
    report: VerificationReport


@dataclass(frozen=True, slots=True)
class _Delivered:
    member: str | None
    roots: list[bytes]  # that member's pinned roots
    view: RegistryView | None


@dataclass(frozen=True, slots=True)
class LicenceQuery:
    holder_code: str | None = None
    type_code: str | None = None
    issuer_code: str | None = None
    member: str | None = None

    def check(self) -> None:
        """Raises: ValidationFailedError: no criterion (a query never lists every licence)."""
        if not any((self.holder_code, self.type_code, self.issuer_code, self.member)):
            raise ValidationFailedError(
                "give at least one of holder_code, type_code, issuer_code, member",
                details=[{"field": "query", "problem": "no criterion"}],
            )


def _use_cause(text: str) -> str:
    cause = (text or "").strip()
    if not cause or len(cause) > 200:
        raise ValidationFailedError(
            "a use cause (申请事由) is required",
            details=[{"field": "use_cause", "problem": "1 to 200 characters"}],
        )
    return cause


class HubQueries:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def verify(self, data: bytes) -> HubVerification:
        """Verify a file (PDF or OFD) a member delivered: its seals against that member's roots,
        then the hub's copy of the licence (status, issuer, which deployment).

        Raises:
            NotFoundError: ``not_a_hub``.
            DocumentTooLargeError, InvalidDocumentError: as ``VerificationService.verify_pdf``.
        """
        require_hub(self.ctx)
        if len(data) > self.ctx.settings.max_upload_bytes:
            raise DocumentTooLargeError(
                "the file is too large", details={"limit": self.ctx.settings.max_upload_bytes}
            )
        if is_ofd(data):
            return self._verify_ofd(data)
        if b"%PDF-" not in data[:1024]:
            raise InvalidDocumentError("the file is neither a PDF nor an OFD")
        now = self.ctx.clock.now()
        file_sha = hashlib.sha256(data).hexdigest()
        with self.ctx.database.read() as session:
            found = self._delivered(session, HubRepository(session).files_by_sha256(file_sha))
        result = crypto.validate_pdf(data, trust_roots_der=found.roots, validation_time=now)
        report = report_with_registry(
            signature_reasons(result),
            registry=found.view,
            signatures=signature_details(result),
            checked_at=now,
            file_sha256=file_sha,
        )
        return HubVerification(found.member, report)

    def _verify_ofd(self, data: bytes) -> HubVerification:
        """An OFD a member delivered: its GB/T 38540 seals against that member's roots (with the
        chain kept beside it), then the hub's copy of the licence."""
        now = self.ctx.clock.now()
        file_sha = hashlib.sha256(data).hexdigest()
        with self.ctx.database.read() as session:
            files = HubRepository(session).files_by_ofd_sha256(file_sha)
            found = self._delivered(session, files)
            chain = ofd_chain(files[-1].ofd_chain_pem) if files else []
        _, reasons, details = verify_ofd_against(self.ctx, data, roots=found.roots, chain=chain)
        report = report_with_registry(
            reasons, registry=found.view, signatures=details, checked_at=now, file_sha256=file_sha
        )
        return HubVerification(found.member, report)

    def _delivered(self, session: Session, files: Sequence[HubLicenceFile]) -> _Delivered:
        """Who delivered the file (the last delivery of those bytes), and the hub's copy of it."""
        repo = HubRepository(session)
        found = files[-1] if files else None
        licence = repo.licence_by_id(found.licence_id) if found is not None else None
        member = repo.member(licence.member_id) if licence is not None else None
        if found is None or licence is None or member is None:
            return _Delivered(None, [], None)
        roots = (
            crypto.certificates_from_pem(member.trust_roots_pem.encode())
            if member.trust_roots_pem
            else []
        )
        return _Delivered(member.name, roots, self._view(session, licence, found))

    def public_status(self, identifier: str) -> HubLicenceInfo:
        """A licence for the public page, which shows its status, issuer and member only (unaudited).

        Raises:
            NotFoundError: ``not_a_hub``; no member delivered it.
        """
        require_hub(self.ctx)
        with self.ctx.database.read() as session:
            found = HubRepository(session).licences_by_identifier(identifier[:130])
            if not found:
                raise NotFoundError("no member delivered this licence")
            return self._info(session, found[0])

    def licence(self, identifier: str, *, principal: Principal, use_cause: str) -> HubLicenceInfo:
        """The hub's copy of a licence, by any delivered version's identifier; the use is recorded.

        Raises:
            NotFoundError: ``not_a_hub``; no member delivered it.
            ValidationFailedError: no ``use_cause`` (申请事由).
        """
        cause = _use_cause(use_cause)
        info = self.public_status(identifier)
        self._record_use(principal, "hub.query", info.identifier, cause, {"member": info.member})
        return info

    def file(
        self, identifier: str, *, principal: Principal, use_cause: str, ofd: bool = False
    ) -> Download:
        """The current version's file of a licence as its member sealed it, named
        ``<identifier>.pdf``; with ``ofd``, the version's OFD (``<identifier>.ofd``).

        Raises:
            NotFoundError, ValidationFailedError: as ``licence``; ``NotFoundError``
                (``no_ofd``) when the member delivered no OFD of that version (an ECDSA/RSA
                seal makes none, docs/ofd.md).
        """
        cause = _use_cause(use_cause)
        info = self.public_status(identifier)
        sha = info.file_sha256
        if ofd:
            with self.ctx.database.read() as session:
                repo = HubRepository(session)
                kept = next(
                    (f for f in repo.files_by_sha256(info.file_sha256) if f.ofd_sha256), None
                )
            if kept is None or kept.ofd_sha256 is None:
                raise NotFoundError(
                    f"no OFD of {info.identifier} was delivered (only SM2-sealed versions have one)",
                    code="no_ofd",
                )
            sha = kept.ofd_sha256
        self._record_use(
            principal,
            "hub.download",
            info.identifier,
            cause,
            {"member": info.member, "sha256": sha},
        )
        return Download.open(self.ctx.blobs, f"{info.identifier}.{'ofd' if ofd else 'pdf'}", sha)

    def search(
        self, query: LicenceQuery, *, principal: Principal, use_cause: str
    ) -> list[HubLicenceInfo]:
        """Licences of every member matching all given criteria (at most 200); the use is recorded.

        Raises:
            NotFoundError: ``not_a_hub``; an unknown member.
            ValidationFailedError: no criterion, or no ``use_cause`` (申请事由).
        """
        require_hub(self.ctx)
        query.check()
        cause = _use_cause(use_cause)
        found = self._search(query)
        criteria = {k: v for k, v in asdict(query).items() if v is not None}
        self._record_use(
            principal, "hub.search", "hub:licences", cause, {**criteria, "found": len(found)}
        )
        return found

    def _record_use(
        self, principal: Principal, action: str, target: str, cause: str, details: dict[str, object]
    ) -> None:
        # 用证留痕: who looked at which licence, and why (GB/T 36906-style useCause).
        with self.ctx.database.transaction() as session:
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=principal,
                action=action,
                target=target,
                details={"use_cause": cause, **details},
            )

    def _search(self, query: LicenceQuery) -> list[HubLicenceInfo]:
        with self.ctx.database.read() as session:
            repo = HubRepository(session)
            member_id = None
            if query.member is not None:
                member = repo.member_by_name(query.member)
                if member is None:
                    raise NotFoundError(f"no member named {query.member}")
                member_id = member.id
            rows = repo.search(
                holder_code=query.holder_code,
                type_code=query.type_code,
                issuer_code=query.issuer_code,
                member_id=member_id,
                limit=_MAX_RESULTS,
            )
            return [self._info(session, row) for row in rows]

    def _status(self, licence: HubLicence) -> str:
        return effective_status(
            LicenceStatus(licence.status),
            valid_from=licence.valid_from,
            valid_until=licence.valid_until,
            today=self.ctx.clock.now().date(),
        ).value

    def _info(self, session: Session, licence: HubLicence) -> HubLicenceInfo:
        member = HubRepository(session).member(licence.member_id)
        assert member is not None  # foreign key
        return HubLicenceInfo(
            member=member.name,
            identifier=licence.identifier,
            identifier_base=licence.identifier_base,
            version=licence.version,
            status=self._status(licence),
            type_code=licence.type_code,
            holder_code=licence.holder_code,
            issuer_code=licence.issuer_code,
            issuer_name=licence.issuer_name,
            valid_from=licence.valid_from,
            valid_until=licence.valid_until,
            metadata=dict(licence.metadata_json),
            file_sha256=licence.file_sha256,
            updated_at=licence.updated_at,
        )

    def _view(self, session: Session, licence: HubLicence, file: HubLicenceFile) -> RegistryView:
        """The hub's copy as the registry part of a report: the 盟 issuer, today's status."""
        status = self._status(licence)
        deliveries = HubRepository(session).deliveries_of(licence.id)
        at_delivery = next(
            (d.status_after for d in deliveries if d.version == file.version),
            LicenceStatus.VALID.value,
        )
        view = RegistryView(
            identifier=file.identifier,
            template=str(licence.metadata_json.get("licence_name", licence.type_code)),
            department_code=licence.issuer_code,
            department_name=licence.issuer_name,
            status=status,
            status_at_signing=at_delivery,
            valid_from=licence.valid_from,
            valid_until=licence.valid_until,
            version=file.version,
            current_version=licence.version,
            current_identifier=licence.identifier,
            is_issued_file=True,
        )
        # A re-sealed page (same identifier) is the current content; an amended one is not.
        return replace(view, is_current_content=file.identifier == licence.identifier)
