"""Issuing a licence: validate → allocate identifier → render → seal → store → record."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from sqlalchemy.exc import IntegrityError

from certsvc.domain.identifiers import HolderIdType, LicenceIdentifier, validate_holder_id
from certsvc.domain.status import LicenceStatus
from certsvc.errors import ConflictError, PermissionDeniedError
from certsvc.rendering.renderer import LicenceContent
from certsvc.rendering.templates import LicenceTemplate
from certsvc.services.audit import append_audit_event
from certsvc.services.bilingual import licence_name_mn
from certsvc.services.context import ServiceContext
from certsvc.services.ofd_versions import OFD_NEEDS_SM2_SEAL, ofd_sealable, record_ofd
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.qr import QrService
from certsvc.services.requests import IssueRequest
from certsvc.services.sealing import SealSnapshot, VersionProducer, box_to_json
from certsvc.storage.orm import Certificate, CertificateVersion
from certsvc.storage.repositories import (
    CertificateRepository,
    DepartmentRepository,
    SealRepository,
    SerialRepository,
)

__all__ = ["IssuanceService", "IssuedCertificate", "gbt36903_metadata", "verification_url"]


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    identifier: str
    status: str
    sha256: str
    version: int
    template: str
    department_code: str
    is_replay: bool  # an idempotent retry answered with the first result


def verification_url(public_url: str, identifier: str) -> str:
    return f"{public_url.rstrip('/')}/v/{identifier}"


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
            UnknownTemplateError, ValidationFailedError, InvalidHolderIdError: bad request data.
            ConflictError: the idempotency key was used for a different request, or the
                department has no usable seal, or ``require_ofd`` and the seal is not SM2
                (``ofd_needs_sm2_seal``: refused before anything is issued).
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
        fields = template.validate_fields(request.fields)
        now = self.ctx.clock.now()

        with self.ctx.database.transaction() as session:
            department = DepartmentRepository(session).by_id(principal.department_id)
            seal = SealRepository(session).active_for(principal.department_id, now) if department else None
            if department is None or seal is None:
                raise ConflictError("the department has no active seal to issue with", code="no_active_seal")
            if require_ofd and not ofd_sealable(seal.algorithm, seal.ses_seal_der):
                raise ConflictError(
                    "an OFD licence needs a GB/T 38540 (SM2) seal; this department seals with "
                    f"{seal.algorithm}",
                    code=OFD_NEEDS_SM2_SEAL,
                )
            serial = SerialRepository(session).next_value(
                department_id=department.id, type_code=template.type_code, year=now.year
            )
            department_view = _DepartmentView(
                department.id,
                department.code,
                department.name,
                licence_name_mn(is_bilingual=department.is_bilingual, name_mn=department.name_mn),
            )
            area_code = department.area_code  # GB/T 36903 行政区划代码, read inside the transaction
            seal_view = SealSnapshot.of(seal)
        identifier = LicenceIdentifier(template.type_code, department_view.code, f"{now.year}{serial:06d}", 1)

        content = LicenceContent(
            identifier=str(identifier),
            holder_name=request.holder.name,
            holder_id_type=holder_type.value,
            holder_id=holder_id,
            fields=fields,
            valid_from=request.valid_from,
            valid_until=request.valid_until,
            issued_on=now.date(),
            department_name=department_view.name,
            department_name_mn=department_view.name_mn,
            department_code=department_view.code,
            verify_url=verification_url(self.ctx.settings.public_url, str(identifier)),
            metadata=gbt36903_metadata(
                identifier=str(identifier),
                template=template,
                fields=fields,
                holder_name=request.holder.name,
                holder_type=holder_type,
                holder_id=holder_id,
                issuer_name=department_view.name,
                issuer_code=department_view.code,
                area_code=area_code,
                issued_on=now.date(),
                valid_from=request.valid_from,
                valid_until=request.valid_until,
            ),
        )
        # The QR code carries the URL plus a payload signed with the seal key (issue 6, docs/qr.md).
        content = replace(content, verify_url=QrService(self.ctx).qr_text(content, seal=seal_view))
        produced = VersionProducer(self.ctx).render_and_seal(
            template, content, seal=seal_view, signed_at=now, reason="电子证照签发 / licence issued"
        )

        try:
            with self.ctx.database.transaction() as session:
                cert = CertificateRepository(session).add(
                    Certificate(
                        identifier_base=identifier.base,
                        identifier=str(identifier),
                        department_id=department_view.id,
                        template=template.slug,
                        type_code=template.type_code,
                        holder_name=request.holder.name,
                        holder_id_type=holder_type.value,
                        holder_id=holder_id,
                        data=_jsonable(fields),
                        status=LicenceStatus.VALID.value,
                        valid_from=request.valid_from,
                        valid_until=request.valid_until,
                        current_version=1,
                        issued_at=now,
                        idempotency_key=idempotency_key or None,
                        request_sha256=fingerprint,
                    )
                )
                CertificateRepository(session).add_version(
                    CertificateVersion(
                        certificate_id=cert.id,
                        version=1,
                        identifier=str(identifier),
                        sha256=produced.signed_sha256,
                        print_sha256=produced.print_sha256,
                        unsigned_sha256=produced.unsigned_sha256,
                        seal_box=box_to_json(produced.seal_box),
                        seal_id=seal_view.id,
                        signed_at=now,
                        reason="issue",
                        ses_signature_der=produced.ses_signature_der,
                    )
                )
                record_ofd(session, certificate_id=cert.id, version=1, ofd=produced.ofd)
                append_audit_event(
                    session,
                    at=now,
                    actor=principal,
                    action="certificate.issue",
                    target=str(identifier),
                    request_id=request_id,
                    details={"template": template.slug, "sha256": produced.signed_sha256, "seal_id": seal_view.id},
                )
        except IntegrityError:
            # Two requests with one idempotency key raced: the other one won; answer with its result.
            if idempotency_key:
                replay = self._replay(principal.department_id, idempotency_key, fingerprint)
                if replay is not None:
                    return replay
            raise
        return IssuedCertificate(
            identifier=str(identifier),
            status=LicenceStatus.VALID.value,
            sha256=produced.signed_sha256,
            version=1,
            template=template.slug,
            department_code=department_view.code,
            is_replay=False,
        )

    def _replay(self, department_id: int, key: str, fingerprint: str) -> IssuedCertificate | None:
        with self.ctx.database.read() as session:
            cert = CertificateRepository(session).by_idempotency_key(department_id, key)
            if cert is None:
                return None
            if cert.request_sha256 != fingerprint:
                raise ConflictError(
                    "this Idempotency-Key was already used for a different request", code="idempotency_key_reused"
                )
            version = CertificateRepository(session).version(cert.id, cert.current_version)
            assert version is not None  # a certificate always has its current version
            return IssuedCertificate(
                identifier=cert.identifier,
                status=cert.status,
                sha256=version.sha256,
                version=cert.current_version,
                template=cert.template,
                department_code=cert.department.code,
                is_replay=True,
            )


@dataclass(frozen=True, slots=True)
class _DepartmentView:
    id: int
    code: str
    name: str
    name_mn: str | None  # set for a bilingual department: the bilingual layout is used


def _jsonable(fields: dict[str, object]) -> dict[str, object]:
    return json.loads(json.dumps(fields, ensure_ascii=False, default=str))  # type: ignore[no-any-return]



def gbt36903_metadata(
    *,
    identifier: str,
    template: LicenceTemplate,
    fields: Mapping[str, object],
    holder_name: str,
    holder_type: HolderIdType,
    holder_id: str,
    issuer_name: str,
    issuer_code: str,
    area_code: str,
    issued_on: date,
    valid_from: date,
    valid_until: date,
) -> dict[str, str]:
    """The GB/T 36903-2018 metadata written into the licence PDF's XMP and info dictionary.

    Verification reads it back (``read_licence_metadata``) to find the registry entry of a file
    whose QR code is unreadable or whose bytes changed.
    """
    metadata = {
        "identifier": identifier,
        "licence_name": template.name,
        "type_code": template.type_code,
        "holder_name": holder_name,
        "holder_code": holder_id,
        "holder_code_type": holder_type.gbt36903_code,  # 001 统一社会信用代码 / 111 公民身份号码
        "issuer_name": issuer_name,
        "issuer_code": issuer_code,
        "issued_on": issued_on.isoformat(),
        "valid_from": valid_from.isoformat(),
        "valid_until": valid_until.isoformat(),
        "area_code": area_code,
    }
    number = fields.get(template.number_field) if template.number_field else None
    if isinstance(number, str) and number:
        metadata["licence_number"] = number
    return metadata
