"""Holders' consent to material waiver (减证办、免证办): grant, list, show and withdraw authorizations.

An authorization names one holder, one receiving department, one licence type (or one licence),
one application number (办件编号), an expiry of at most 30 days, and whether it may be used once
or repeatedly. The receiving departments' side is ``services.sharing``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from certsvc.errors import (
    AuthorizationUnknownError,
    BadRequestError,
    NotFoundError,
    SharingRefusedError,
)
from certsvc.rendering.charts import qr_png
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.holders import Holder, record_usage
from certsvc.storage.orm_sharing import SharingAuthorization
from certsvc.storage.repositories import CertificateRepository, DepartmentRepository
from certsvc.storage.repositories_sharing import SharingRepository

__all__ = [
    "AuthorizationService",
    "AuthorizationState",
    "AuthorizationView",
    "checked_text",
    "format_code",
    "normalise_code",
    "qr_image",
]

# Crockford-like alphabet without 0/O, 1/I/L, U: read out at a window without confusion.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_LENGTH = (
    8  # 30^8 ≈ 6.6e11 codes; a code is useless without the holder id and the right department
)
_QR_PREFIX = "CERTSVC-AUTH:1:"  # the QR carries the code only, no holder data


class AuthorizationState(StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    USED = "used"  # a single-use authorization after its one use


def normalise_code(text: str) -> str:
    """``abcd-efgh`` → ``ABCDEFGH``: clerks type codes as they hear them."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def qr_image(payload: str) -> bytes:
    """PNG of the QR code for an authorization's ``qr_payload``."""
    return qr_png(payload)


@dataclass(frozen=True, slots=True)
class AuthorizationView:
    code: str
    code_display: str
    department_code: str
    department_name: str
    template: str
    type_code: str
    certificate_identifier: str | None
    application_no: str
    purpose: str
    is_single_use: bool
    created_at: datetime
    expires_at: datetime
    withdrawn_at: datetime | None
    used_at: datetime | None
    use_count: int
    state: AuthorizationState
    qr_payload: str


def _state(a: SharingAuthorization, now: datetime) -> AuthorizationState:
    if a.withdrawn_at is not None:
        return AuthorizationState.WITHDRAWN
    if a.expires_at <= now:
        return AuthorizationState.EXPIRED
    if a.is_single_use and a.used_at is not None:
        return AuthorizationState.USED
    return AuthorizationState.ACTIVE


def _view(session: Session, a: SharingAuthorization, now: datetime) -> AuthorizationView:
    department = DepartmentRepository(session).by_id(a.department_id)
    cert = (
        SharingRepository(session).certificate_by_id(a.certificate_id) if a.certificate_id else None
    )
    return AuthorizationView(
        code=a.code,
        code_display=format_code(a.code),
        department_code=department.code if department else "",
        department_name=department.name if department else "",
        template=a.template,
        type_code=a.type_code,
        certificate_identifier=cert.identifier if cert else None,
        application_no=a.application_no,
        purpose=a.purpose,
        is_single_use=a.is_single_use,
        created_at=a.created_at,
        expires_at=a.expires_at,
        withdrawn_at=a.withdrawn_at,
        used_at=a.used_at,
        use_count=a.use_count,
        state=_state(a, now),
        qr_payload=_QR_PREFIX + a.code,
    )


def checked_text(value: str, field: str, max_len: int) -> str:
    value = value.strip()
    if not value or len(value) > max_len or not value.isprintable():
        raise BadRequestError(
            f"{field} must be 1..{max_len} printable characters",
            code="validation_failed",
            details=[{"field": field, "problem": f"1..{max_len} printable characters"}],
        )
    return value


class AuthorizationService:
    """The holder's side of consent: grant, list, withdraw."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def licence_type(self, text: str) -> tuple[str, str]:
        """A licence type named by template slug or 证照类型代码 → (slug, type code)."""
        for template in self.ctx.templates.all():
            if text in (template.slug, template.type_code):
                return template.slug, template.type_code
        raise BadRequestError(
            f"unknown licence type {text!r}",
            code="unknown_licence_type",
            details=[{"field": "licence_type", "problem": "a template slug or 证照类型代码"}],
        )

    def create(
        self,
        holder: Holder,
        *,
        department_code: str,
        licence_type: str | None,
        certificate_identifier: str | None,
        application_no: str,
        purpose: str,
        expires_at: datetime,
        is_single_use: bool,
        request_id: str | None = None,
    ) -> AuthorizationView:
        """Grant one receiving department use of one licence type or one licence.

        Raises:
            BadRequestError: ``unknown_department``, ``unknown_licence_type``,
                ``authorization_too_long`` (past the configured maximum, 30 days),
                ``authorization_scope_required`` / ``validation_failed``.
            NotFoundError: the named licence is not the holder's (same answer as no licence).
        """
        now = self.ctx.clock.now()
        application_no = checked_text(application_no, "application_no", 64)
        purpose = checked_text(purpose, "purpose", 200)
        if expires_at.tzinfo is None:
            raise BadRequestError("expires_at needs a time zone", code="validation_failed")
        max_days = self.ctx.settings.sharing_max_authorization_days
        if expires_at <= now or expires_at > now + timedelta(days=max_days):
            raise BadRequestError(
                f"an authorization must expire in the future and within {max_days} days",
                code="authorization_too_long",
                details=[{"field": "expires_at", "problem": f"at most {max_days} days from now"}],
            )
        if (licence_type is None) == (certificate_identifier is None):
            raise BadRequestError(
                "name either a licence type or one licence", code="authorization_scope_required"
            )
        with self.ctx.database.transaction() as session:
            department = DepartmentRepository(session).by_code(department_code.strip().upper())
            if department is None:
                raise BadRequestError(
                    f"no receiving department with code {department_code!r}",
                    code="unknown_department",
                    details=[{"field": "department_code", "problem": "unknown department"}],
                )
            certificate_id: int | None = None
            if certificate_identifier is not None:
                cert = CertificateRepository(session).by_identifier(certificate_identifier.strip())
                if cert is None or (cert.holder_id_type, cert.holder_id) != (
                    holder.id_type.value,
                    holder.id,
                ):
                    raise NotFoundError("no such licence")
                template, type_code, certificate_id = cert.template, cert.type_code, cert.id
            else:
                assert licence_type is not None
                template, type_code = self.licence_type(licence_type.strip())
            repo = SharingRepository(session)
            while True:
                code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
                if repo.authorization_by_code(code) is None:
                    break
            authorization = repo.add_authorization(
                SharingAuthorization(
                    code=code,
                    holder_id_type=holder.id_type.value,
                    holder_id=holder.id,
                    department_id=department.id,
                    type_code=type_code,
                    template=template,
                    certificate_id=certificate_id,
                    application_no=application_no,
                    purpose=purpose,
                    is_single_use=is_single_use,
                    created_at=now,
                    expires_at=expires_at,
                    use_count=0,
                )
            )
            append_audit_event(
                session,
                at=now,
                actor=None,
                action="sharing.authorize",
                target=f"authorization:{authorization.id}",
                request_id=request_id,
                details={
                    "holder": holder.masked,
                    "department": department.code,
                    "type_code": type_code,
                    "certificate_id": certificate_id,
                    "application_no": application_no,
                    "is_single_use": is_single_use,
                    "expires_at": expires_at.isoformat(),
                },
            )
            return _view(session, authorization, now)

    def list(self, holder: Holder) -> list[AuthorizationView]:
        """The holder's authorizations, newest first, with their state today."""
        now = self.ctx.clock.now()
        with self.ctx.database.read() as session:
            repo = SharingRepository(session)
            return [
                _view(session, a, now)
                for a in repo.authorizations_for_holder(holder.id_type.value, holder.id)
            ]

    def qr(self, holder: Holder, code: str) -> bytes:
        """PNG of the QR code a clerk scans to read the authorization code.

        Raises:
            AuthorizationUnknownError: no such code among the holder's authorizations.
        """
        with self.ctx.database.read() as session:
            a = SharingRepository(session).authorization_by_code(normalise_code(code))
            if a is None or (a.holder_id_type, a.holder_id) != (holder.id_type.value, holder.id):
                raise AuthorizationUnknownError("no such authorization")
            return qr_png(_QR_PREFIX + a.code)

    def withdraw(
        self, holder: Holder, code: str, *, request_id: str | None = None
    ) -> AuthorizationView:
        """Withdraw an authorization; later queries with it are refused. Idempotent.

        Raises:
            AuthorizationUnknownError: no such code.
            SharingRefusedError: ``holder_mismatch`` — the code belongs to another holder
                (recorded where that holder can see it).
        """
        now = self.ctx.clock.now()
        refusal: SharingRefusedError | None = None
        with self.ctx.database.transaction() as session:
            a = SharingRepository(session).authorization_by_code(
                normalise_code(code), for_update=True
            )
            if a is None:
                raise AuthorizationUnknownError("no such authorization")
            if (a.holder_id_type, a.holder_id) != (holder.id_type.value, holder.id):
                record_usage(
                    session,
                    at=now,
                    operation="withdraw",
                    result="holder_mismatch",
                    holder=(a.holder_id_type, a.holder_id),
                    authorization_id=a.id,
                    request_id=request_id,
                    details={"caller": holder.masked},
                )
                refusal = SharingRefusedError(
                    "this authorization belongs to another holder", code="holder_mismatch"
                )
            else:
                if a.withdrawn_at is None:
                    a.withdrawn_at = now
                    append_audit_event(
                        session,
                        at=now,
                        actor=None,
                        action="sharing.withdraw",
                        target=f"authorization:{a.id}",
                        request_id=request_id,
                        details={"holder": holder.masked},
                    )
                view = _view(session, a, now)
        if refusal is not None:
            raise refusal
        return view
