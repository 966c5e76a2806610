"""New versions of a licence: amend (变更) and reissue (补发).

Both render and seal a new version outside any transaction, like issuance, and then check that
nobody changed the licence meanwhile (optimistic: the current revision and state must be
unchanged); the previous version becomes superseded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.exc import IntegrityError

from certsvc.domain.identifiers import LicenceIdentifier
from certsvc.domain.licence import LicenceRecord
from certsvc.domain.status import LicenceAction, LicenceStatus, transition
from certsvc.errors import ConflictError, NotFoundError, ValidationFailedError
from certsvc.services.access import licence_access, visible_licence
from certsvc.services.issuance_rules import (
    choose_seal,
    licence_number_of,
    refuse_ended_validity,
    require_number_free,
    resolve_valid_until,
)
from certsvc.services.licences import licence_record_of
from certsvc.services.lifecycle_records import LifecycleBase, LifecycleResult, checked_reason
from certsvc.services.ofd_versions import record_ofd
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.producer import LicenceProducer, ProducedVersion, SealSnapshot, VersionSpec
from certsvc.services.requests import pydantic_problems
from certsvc.services.upstream import record_change
from certsvc.services.webhooks import WebhookService
from certsvc.storage.orm import CertificateVersion
from certsvc.storage.repositories import CertificateRepository

__all__ = ["AmendRequest", "LifecycleVersions", "parse_amend_request"]

_SEAL_REASON = {
    LicenceAction.AMEND: "电子证照变更 / licence amended",
    LicenceAction.REISSUE: "电子证照补发 / licence re-issued",
}


class AmendRequest(BaseModel):
    """Body of ``POST /api/v1/certificates/{identifier}/amend``: only what changes, and why."""

    model_config = ConfigDict(
        extra="forbid",
        # A food business licence's premises moving (tests/api/test_openapi_examples.py sends it).
        json_schema_extra={
            "examples": [
                {
                    "reason": "经营场所变更",
                    "fields": {"business_premises": "内蒙古自治区锡林郭勒盟锡林浩特市额尔敦路18号"},
                }
            ]
        },
    )

    reason: str = Field(min_length=1, max_length=500)
    holder_name: str | None = Field(default=None, min_length=1, max_length=100)
    fields: dict[str, Any] = Field(
        default_factory=dict, description="changed fields, merged over the current ones"
    )
    valid_from: date | None = None
    valid_until: date | None = None

    @model_validator(mode="after")
    def _changes_something(self) -> AmendRequest:
        if (
            self.holder_name is None
            and not self.fields
            and self.valid_from is None
            and self.valid_until is None
        ):
            raise ValueError(
                "an amendment must change the holder name, a field or the validity period"
            )
        return self


def parse_amend_request(data: object) -> AmendRequest:
    """Validate a decoded JSON body; raises ``ValidationFailedError`` listing every problem."""
    try:
        return AmendRequest.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailedError(
            "the amendment does not match the expected shape", details=pydantic_problems(exc)
        ) from exc


@dataclass(frozen=True, slots=True)
class _Plan:
    cert_id: int
    template: str
    revision: int
    status: LicenceStatus
    old_identifier: str
    new_identifier: str
    record: LicenceRecord
    department_id: int
    licence_number: str | None  # kept by amend and reissue; an amended one must be free
    seal: SealSnapshot


class LifecycleVersions(LifecycleBase):
    """Amend and reissue; ``services.lifecycle.LifecycleService`` adds the state-only changes."""

    def amend(
        self,
        identifier: str,
        request: AmendRequest,
        *,
        principal: Principal,
        request_id: str | None = None,
    ) -> LifecycleResult:
        """变更: apply the changes, render and seal a new version with the next 版本号.

        The previous version becomes superseded; verifying its file names the new identifier.

        Raises:
            PermissionDeniedError, NotFoundError: as for ``change_status``.
            IllegalTransitionError: the licence is not valid (suspended, revoked, expired ...).
            ConflictError: ``superseded_version`` (the identifier is not the current one),
                ``concurrent_change`` (changed while sealing), ``duplicate_licence_number`` (the
                new number is another licence's), or no seal may sign (see ``choose_seal``).
            ValidationFailedError: the changed fields do not fit the template, or the new
                validity period has already ended (``validity_already_ended``).
            KeyUnavailableError, SigningError: the seal could not be applied.
        """
        return self._new_version(
            identifier, LicenceAction.AMEND, request.reason, request, principal, request_id
        )

    def reissue(
        self, identifier: str, *, reason: str, principal: Principal, request_id: str | None = None
    ) -> LifecycleResult:
        """补发: seal the same data again as a new version with the next 版本号 (e.g. a lost file).

        Raises:
            As for ``amend``.
        """
        return self._new_version(
            identifier, LicenceAction.REISSUE, reason, None, principal, request_id
        )

    def _new_version(
        self,
        identifier: str,
        action: LicenceAction,
        reason: str,
        amendment: AmendRequest | None,
        principal: Principal,
        request_id: str | None,
    ) -> LifecycleResult:
        require_role(principal, Role.ISSUER, Role.OPERATOR)
        reason = checked_reason(reason)
        with licence_access(self.ctx, principal, action=action.value, request_id=request_id):
            plan = self._plan(identifier, action, amendment, principal)
        now = self.ctx.clock.now()
        produced = LicenceProducer(self.ctx).produce(
            VersionSpec(
                template=self.ctx.templates.get(plan.template),
                record=plan.record,
                identifier=plan.new_identifier,
                issued_on=now.date(),
                seal=plan.seal,
                signed_at=now,
                reason=_SEAL_REASON[action],
            )
        )
        try:
            result, deliveries = self._store_version(
                plan, action, reason, produced, principal, request_id, now
            )
        except IntegrityError:
            # Another licence may have taken the amended number since the plan was checked.
            with self.ctx.database.read() as session:
                require_number_free(
                    session,
                    department_id=plan.department_id,
                    template=self.ctx.templates.get(plan.template),
                    number=plan.licence_number,
                    holder_id=plan.cert_id,
                )
            raise
        WebhookService(self.ctx).dispatch(deliveries, background=self.background_webhooks)
        return result

    def _store_version(
        self,
        plan: _Plan,
        action: LicenceAction,
        reason: str,
        produced: ProducedVersion,
        principal: Principal,
        request_id: str | None,
        now: datetime,
    ) -> tuple[LifecycleResult, list[int]]:
        with self.ctx.database.transaction() as session:
            repo = CertificateRepository(session)
            cert = repo.by_identifier(plan.old_identifier)
            if cert is None or cert.id != plan.cert_id:
                raise NotFoundError("no such licence")
            if cert.current_version != plan.revision or self._effective(cert) is not plan.status:
                raise ConflictError(
                    "the licence changed while the new version was being sealed; try again",
                    code="concurrent_change",
                )
            revision = plan.revision + 1
            repo.add_version(
                CertificateVersion(
                    certificate_id=cert.id,
                    version=revision,
                    identifier=plan.new_identifier,
                    reason=action.value,
                    **produced.version_columns(),
                )
            )
            record_ofd(session, certificate_id=cert.id, version=revision, ofd=produced.ofd)
            record = plan.record
            cert.identifier = plan.new_identifier
            cert.current_version = revision
            cert.data = record.canonical_fields()
            cert.holder_name = record.holder_name
            cert.valid_from = record.valid_from
            cert.valid_until = record.valid_until
            cert.licence_number = plan.licence_number
            target = transition(plan.status, action)
            cert.status = target.value
            self._record(
                session,
                cert,
                action,
                plan.status,
                target,
                reason,
                principal,
                now,
                request_id,
                extra={"previous_identifier": plan.old_identifier, **produced.audit_details},
            )
            record_change(
                session,
                self.ctx.settings,
                certificate_id=cert.id,
                event=action.value,
                version=revision,
                status_after=target.value,
                now=now,
            )
            deliveries = self._enqueue(
                session, cert, action, plan.status, target, reason, plan.old_identifier, now
            )
            result = LifecycleResult(
                identifier=plan.new_identifier,
                previous_identifier=plan.old_identifier,
                action=action.value,
                status=self._effective(cert).value,
                version=revision,
                sha256=produced.signed_sha256,
                changed_at=now,
            )
        return result, deliveries

    def _plan(
        self,
        identifier: str,
        action: LicenceAction,
        amendment: AmendRequest | None,
        principal: Principal,
    ) -> _Plan:
        now = self.ctx.clock.now()
        # A read: the new version is made outside any transaction and written after a check
        # that nothing changed meanwhile.
        with self.ctx.database.read() as session:
            cert = visible_licence(session, identifier, principal)
            current = self._effective(cert)
            transition(current, action)  # refuse early, before rendering anything
            if identifier != cert.identifier:
                raise ConflictError(
                    f"{identifier} is superseded; act on the current version {cert.identifier}",
                    code="superseded_version",
                    details={"current_identifier": cert.identifier},
                )
            template = self.ctx.templates.get(cert.template)
            seal = choose_seal(session, department_id=cert.department_id, template=template, at=now)
            record = licence_record_of(cert, self.ctx.templates)
            if amendment is not None:
                record = replace(
                    record,
                    holder_name=amendment.holder_name or record.holder_name,
                    valid_from=amendment.valid_from or record.valid_from,
                    valid_until=amendment.valid_until or record.valid_until,
                    fields={**record.fields, **amendment.fields},
                )
                if record.valid_until < record.valid_from:
                    raise ValidationFailedError(
                        "invalid validity period",
                        details=[{"field": "valid_until", "problem": "before valid_from"}],
                    )
                if amendment.valid_from is not None or amendment.valid_until is not None:
                    # Only a changed period meets the catalogue's rule: a licence issued before
                    # the rule was enforced can still have its other fields amended.
                    record = replace(
                        record,
                        valid_until=resolve_valid_until(
                            template, record.valid_from, record.valid_until
                        ),
                    )
                refuse_ended_validity(record.valid_until, today=now.date())
            record = replace(record, fields=template.validate_fields(record.fields))
            number = licence_number_of(template, record.fields)
            require_number_free(
                session,
                department_id=cert.department_id,
                template=template,
                number=number,
                holder_id=cert.id,
            )
            printed = LicenceIdentifier.parse(cert.identifier)
            return _Plan(
                cert_id=cert.id,
                template=cert.template,
                revision=cert.current_version,
                status=current,
                old_identifier=cert.identifier,
                new_identifier=str(printed.with_version(printed.version + 1)),
                record=record,
                department_id=cert.department_id,
                licence_number=number,
                seal=SealSnapshot.of(seal),
            )
