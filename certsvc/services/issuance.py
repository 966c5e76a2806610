"""Issuing a licence: validate → allocate identifier → render → seal → store → record."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from sqlalchemy.exc import IntegrityError

from certsvc.domain.identifiers import HolderIdType, LicenceIdentifier, validate_holder_id
from certsvc.domain.licence import LicenceRecord
from certsvc.domain.status import LicenceStatus
from certsvc.errors import ConflictError, PermissionDeniedError
from certsvc.metrics import ISSUES
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.issuance_rules import (
    choose_seal,
    licence_number_of,
    refuse_ended_validity,
    require_holder_kind,
    require_licence_type,
    require_number_free,
    resolve_valid_until,
)
from certsvc.services.licences import issuer_of
from certsvc.services.ofd_versions import OFD_NEEDS_SM2_SEAL, ofd_sealable, record_ofd
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.producer import LicenceProducer, SealSnapshot, VersionSpec
from certsvc.services.requests import IssueRequest
from certsvc.services.upstream import record_change
from certsvc.storage.orm import Certificate, CertificateVersion
from certsvc.storage.repositories import (
    CertificateRepository,
    DepartmentRepository,
    SerialRepository,
)

__all__ = ["IssuanceService", "IssuedCertificate"]


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    identifier: str
    status: str
    sha256: str
    version: int
    template: str
    department_code: str
    is_replay: bool  # an idempotent retry answered with the first result

    def stored_answer(self) -> dict[str, object]:
        """The answer as kept with the licence, so that a replay returns it unchanged."""
        answer = asdict(self)
        del answer["is_replay"]
        return answer


def _request_fingerprint(request: IssueRequest) -> str:
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IssuanceService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def issue(
        self,
        request: IssueRequest,
        *,
        principal: Principal,
        idempotency_key: str | None = None,
        request_id: str | None = None,
        require_ofd: bool = False,
    ) -> IssuedCertificate:
        """Issue one licence for the caller's department.

        The slow part (render, seal, blob writes) runs outside any transaction; the serial
        number is allocated in a short transaction before it and the registry rows are written
        in one transaction after it. A crash in between leaves at most a gap in the serial
        numbers and unreferenced blobs, never a row without its file.

        Raises:
            PermissionDeniedError: the caller is not an issuer of a department.
            UnknownTemplateError, ValidationFailedError, InvalidHolderIdError: bad request data;
                ``validity_already_ended`` for a period that ended before today; a period the
                catalogue's validity rule does not allow (``resolve_valid_until``).
            PermissionDeniedError: ``licence_type_not_allowed``, a type not configured for the
                department.
            ConflictError: the idempotency key was used for a different request
                (``idempotency_key_reused``), the licence number is held by another licence
                (``duplicate_licence_number``), no seal may sign (see ``choose_seal``), or
                ``require_ofd`` and the seal is not SM2 (``ofd_needs_sm2_seal``: refused before
                anything is issued).
            KeyUnavailableError, SigningError: the seal could not be applied.
        """
        require_role(principal, Role.ISSUER)
        if principal.department_id is None:
            raise PermissionDeniedError("this client belongs to no department")
        fingerprint = _request_fingerprint(request)
        if idempotency_key:
            replay = self._replay(principal.department_id, idempotency_key, fingerprint)
            if replay is not None:
                return replay

        template = self.ctx.templates.get(request.template)
        holder_type = HolderIdType(request.holder.id_type)
        holder_id = validate_holder_id(holder_type, request.holder.id)
        require_holder_kind(template, holder_type)
        fields = template.validate_fields(request.fields)
        now = self.ctx.clock.now()
        valid_until = resolve_valid_until(template, request.valid_from, request.valid_until)
        refuse_ended_validity(valid_until, today=now.date())
        number = licence_number_of(template, fields)

        with self.ctx.database.transaction() as session:
            department = DepartmentRepository(session).by_id(principal.department_id)
            if department is None:
                raise PermissionDeniedError("this client's department no longer exists")
            require_licence_type(
                session,
                department_id=department.id,
                department_code=department.code,
                template=template,
            )
            require_number_free(
                session, department_id=department.id, template=template, number=number
            )
            seal = choose_seal(session, department_id=department.id, template=template, at=now)
            if require_ofd and not ofd_sealable(seal.algorithm, seal.ses_seal_der):
                raise ConflictError(
                    "an OFD licence needs a GB/T 38540 (SM2) seal; this department seals with "
                    f"{seal.algorithm}",
                    code=OFD_NEEDS_SM2_SEAL,
                )
            serial = SerialRepository(session).next_value(
                department_id=department.id, type_code=template.type_code, year=now.year
            )
            department_id = department.id
            issuer = issuer_of(department)
            seal_view = SealSnapshot.of(seal)
        licence_id = LicenceIdentifier(
            template.type_code, issuer.code, f"{now.year}{serial:06d}", 1
        )
        identifier = str(licence_id)
        record = LicenceRecord(
            kind=template.kind,
            holder_name=request.holder.name,
            holder_id_type=holder_type,
            holder_id=holder_id,
            valid_from=request.valid_from,
            valid_until=valid_until,
            issuer=issuer,
            fields=fields,
        )
        produced = LicenceProducer(self.ctx).produce(
            VersionSpec(
                template=template,
                record=record,
                identifier=identifier,
                issued_on=now.date(),
                seal=seal_view,
                signed_at=now,
                reason="电子证照签发 / licence issued",
            )
        )

        issued = IssuedCertificate(
            identifier=identifier,
            status=LicenceStatus.VALID.value,
            sha256=produced.signed_sha256,
            version=1,
            template=template.slug,
            department_code=issuer.code,
            is_replay=False,
        )
        try:
            with self.ctx.database.transaction() as session:
                cert = CertificateRepository(session).add(
                    Certificate(
                        identifier_base=licence_id.base,
                        identifier=identifier,
                        department_id=department_id,
                        template=template.slug,
                        type_code=template.type_code,
                        holder_name=record.holder_name,
                        holder_id_type=record.holder_id_type.value,
                        holder_id=record.holder_id,
                        data=record.canonical_fields(),
                        status=LicenceStatus.VALID.value,
                        valid_from=record.valid_from,
                        valid_until=record.valid_until,
                        current_version=1,
                        issued_at=now,
                        idempotency_key=idempotency_key or None,
                        request_sha256=fingerprint,
                        licence_number=number,
                        issue_response=issued.stored_answer(),
                    )
                )
                CertificateRepository(session).add_version(
                    CertificateVersion(
                        certificate_id=cert.id,
                        version=1,
                        identifier=identifier,
                        reason="issue",
                        **produced.version_columns(),
                    )
                )
                record_ofd(session, certificate_id=cert.id, version=1, ofd=produced.ofd)
                record_change(
                    session,
                    self.ctx.settings,
                    certificate_id=cert.id,
                    event="issue",
                    version=1,
                    status_after=LicenceStatus.VALID.value,
                    now=now,
                )
                append_audit_event(
                    session,
                    at=now,
                    actor=principal,
                    action="certificate.issue",
                    target=identifier,
                    request_id=request_id,
                    details={"template": template.slug, **produced.audit_details},
                )
        except IntegrityError:
            # Two requests with one idempotency key raced: the other one won; answer with its result.
            if idempotency_key:
                replay = self._replay(principal.department_id, idempotency_key, fingerprint)
                if replay is not None:
                    return replay
            # Or another licence took the number since the check above.
            with self.ctx.database.read() as session:
                require_number_free(
                    session, department_id=department_id, template=template, number=number
                )
            raise
        ISSUES.labels(template=template.slug).inc()
        return issued

    def _replay(self, department_id: int, key: str, fingerprint: str) -> IssuedCertificate | None:
        with self.ctx.database.read() as session:
            cert = CertificateRepository(session).by_idempotency_key(department_id, key)
            if cert is None:
                return None
            if cert.request_sha256 != fingerprint:
                raise ConflictError(
                    "this Idempotency-Key was already used for a different request",
                    code="idempotency_key_reused",
                )
            if cert.issue_response is not None:
                return IssuedCertificate(**cert.issue_response, is_replay=True)
            # Licences issued before answers were stored: the first version is what was answered.
            first = CertificateRepository(session).version(cert.id, 1)
            assert first is not None  # a certificate always has its first version
            return IssuedCertificate(
                identifier=first.identifier,
                status=LicenceStatus.VALID.value,
                sha256=first.sha256,
                version=1,
                template=cert.template,
                department_code=cert.department.code,
                is_replay=True,
            )
