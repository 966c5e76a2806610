"""The licence lifecycle: suspend, resume, revoke, cancel, amend (变更) and reissue (补发).

The allowed transitions are the domain's (``domain.status.TRANSITIONS``). Every change writes,
in one transaction: the licence row, a status-history row (verification reads it to tell the
state at signing time), an audit event and the department's webhook events. Amend and reissue
render and seal a new version outside any transaction, like issuance, and then check that
nobody changed the licence meanwhile (optimistic: the current revision must be unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy.exc import IntegrityError

from certsvc.domain.identifiers import LicenceIdentifier
from certsvc.domain.licence import LicenceRecord
from certsvc.domain.status import LicenceAction, LicenceStatus, effective_status, transition
from certsvc.domain.status_reasons import ReasonCategory
from certsvc.errors import ConflictError, NotFoundError, ValidationFailedError
from certsvc.services.access import licence_access, visible_licence
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.issuance_rules import (
    choose_seal,
    licence_number_of,
    refuse_ended_validity,
    require_number_free,
    resolve_valid_until,
)
from certsvc.services.licences import licence_record_of
from certsvc.services.ofd_versions import record_ofd
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.producer import LicenceProducer, ProducedVersion, SealSnapshot, VersionSpec
from certsvc.services.requests import pydantic_problems
from certsvc.services.upstream import record_change
from certsvc.services.webhooks import WebhookService, enqueue_event
from certsvc.storage.orm import Certificate, CertificateVersion
from certsvc.storage.orm_lifecycle import StatusChange
from certsvc.storage.repositories import CertificateRepository
from certsvc.storage.repositories_lifecycle import StatusHistoryRepository

__all__ = [
    "STATUS_ACTIONS",
    "AmendRequest",
    "LifecycleResult",
    "LifecycleService",
    "StatusChangeInfo",
    "parse_amend_request",
]

# The actions that change only the state (no new file).
STATUS_ACTIONS = (
    LicenceAction.SUSPEND,
    LicenceAction.RESUME,
    LicenceAction.REVOKE,
    LicenceAction.CANCEL,
)
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
class LifecycleResult:
    identifier: str  # the licence's current identifier after the action
    previous_identifier: str
    action: str
    status: str  # effective status after the action
    version: int  # current registry revision
    sha256: str  # the current version's signed file
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class StatusChangeInfo:
    at: datetime
    action: str
    from_status: str
    to_status: str
    reason: str
    version: int
    identifier: str
    actor: str
    category: str  # a ReasonCategory value: what the public page may say about why


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


class LifecycleService:
    def __init__(self, ctx: ServiceContext, *, background_webhooks: bool = True) -> None:
        self.ctx = ctx
        self.background_webhooks = background_webhooks

    # --- state only ----------------------------------------------------------------------
    def change_status(
        self,
        identifier: str,
        action: LicenceAction,
        *,
        reason: str,
        principal: Principal,
        request_id: str | None = None,
        category: ReasonCategory = ReasonCategory.OTHER,
    ) -> LifecycleResult:
        """Suspend, resume, revoke or cancel a licence, with a reason (and its public category).

        Raises:
            PermissionDeniedError: the caller is neither issuer nor operator.
            NotFoundError: no such licence, or another department's (the same answer).
            IllegalTransitionError: the action is not allowed from the licence's state (409).
            ValidationFailedError: empty reason or not a status action.
        """
        require_role(principal, Role.ISSUER, Role.OPERATOR)
        if action not in STATUS_ACTIONS:
            raise ValidationFailedError(
                f"{action.value} is not a status change",
                details=[{"field": "action", "problem": "unknown"}],
            )
        reason = _reason(reason)
        now = self.ctx.clock.now()
        with licence_access(self.ctx, principal, action=action.value, request_id=request_id):
            result, deliveries = self._change_status(
                identifier, action, reason, principal, request_id, now, category
            )
        WebhookService(self.ctx).dispatch(deliveries, background=self.background_webhooks)
        return result

    def _change_status(
        self,
        identifier: str,
        action: LicenceAction,
        reason: str,
        principal: Principal,
        request_id: str | None,
        now: datetime,
        category: ReasonCategory,
    ) -> tuple[LifecycleResult, list[int]]:
        with self.ctx.database.transaction() as session:
            cert = visible_licence(session, identifier, principal)
            current = self._effective(cert)
            target = transition(current, action)
            cert.status = target.value
            version = CertificateRepository(session).version(cert.id, cert.current_version)
            assert version is not None  # a certificate always has its current version
            self._record(
                session,
                cert,
                action,
                current,
                target,
                reason,
                principal,
                now,
                request_id,
                category=category,
            )
            record_change(
                session,
                self.ctx.settings,
                certificate_id=cert.id,
                event=action.value,
                version=cert.current_version,
                status_after=target.value,
                now=now,
            )
            deliveries = self._enqueue(
                session, cert, action, current, target, reason, cert.identifier, now
            )
            result = LifecycleResult(
                identifier=cert.identifier,
                previous_identifier=cert.identifier,
                action=action.value,
                status=self._effective(cert).value,
                version=cert.current_version,
                sha256=version.sha256,
                changed_at=now,
            )
        return result, deliveries

    # --- new versions ----------------------------------------------------------------------
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

    def history(
        self, identifier: str, *, principal: Principal, request_id: str | None = None
    ) -> list[StatusChangeInfo]:
        """Every state change and new version of a licence, oldest first (a privileged read, audited).

        Raises:
            NotFoundError: no such licence, or another department's.
        """
        with (
            licence_access(self.ctx, principal, action="history", request_id=request_id),
            self.ctx.database.read() as session,
        ):
            cert = visible_licence(session, identifier, principal)
            target = cert.identifier
            changes = [
                StatusChangeInfo(
                    r.at,
                    r.action,
                    r.from_status,
                    r.to_status,
                    r.reason,
                    r.version,
                    r.identifier,
                    r.actor,
                    r.category,
                )
                for r in StatusHistoryRepository(session).for_certificate(cert.id)
            ]
        with self.ctx.database.transaction() as session:
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=principal,
                action="certificate.history",
                target=target,
                request_id=request_id,
            )
        return changes

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
        reason = _reason(reason)
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

    # --- helpers ---------------------------------------------------------------------------
    def _effective(self, cert: Certificate) -> LicenceStatus:
        return effective_status(
            LicenceStatus(cert.status),
            valid_from=cert.valid_from,
            valid_until=cert.valid_until,
            today=self.ctx.clock.now().date(),
        )

    def _record(
        self,
        session: Any,
        cert: Certificate,
        action: LicenceAction,
        before: LicenceStatus,
        after: LicenceStatus,
        reason: str,
        principal: Principal,
        now: datetime,
        request_id: str | None,
        *,
        extra: dict[str, Any] | None = None,
        category: ReasonCategory = ReasonCategory.OTHER,
    ) -> None:
        StatusHistoryRepository(session).add(
            StatusChange(
                certificate_id=cert.id,
                at=now,
                action=action.value,
                from_status=before.value,
                to_status=after.value,
                reason=reason,
                version=cert.current_version,
                identifier=cert.identifier,
                actor=principal.label,
                category=category.value,
            )
        )
        append_audit_event(
            session,
            at=now,
            actor=principal,
            action=f"certificate.{action.value}",
            target=cert.identifier,
            request_id=request_id,
            details={
                "from": before.value,
                "to": after.value,
                "reason": reason,
                "category": category.value,
                **(extra or {}),
            },
        )

    def _enqueue(
        self,
        session: Any,
        cert: Certificate,
        action: LicenceAction,
        before: LicenceStatus,
        after: LicenceStatus,
        reason: str,
        previous_identifier: str,
        now: datetime,
    ) -> list[int]:
        return enqueue_event(
            session,
            department_id=cert.department_id,
            event_type=f"certificate.{action.value}",
            data={
                "identifier": cert.identifier,
                "previous_identifier": previous_identifier,
                "department_code": cert.department.code,
                "action": action.value,
                "from_status": before.value,
                "to_status": after.value,
                "reason": reason,
                "version": cert.current_version,
            },
            now=now,
        )


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise ValidationFailedError(
            "a reason is required", details=[{"field": "reason", "problem": "1 to 500 characters"}]
        )
    return reason
