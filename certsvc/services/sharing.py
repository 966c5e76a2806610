"""Material waiver (减证办、免证办): holders' consent, receiving departments' query and check.

The rule this module exists for: no holder data leaves certsvc without an authorization in
scope. An authorization names one holder, one receiving department, one licence type (or one
licence), one application number (办件编号), an expiry of at most 30 days, and whether it may be
used once or repeatedly. Every query, check and download — answered or refused — is written as a
usage record and an audit chain entry (用证留痕, GB/T 36906 ``useCause``).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy.orm import Session

from certsvc.domain.identifiers import HolderIdType, mask_holder_id, validate_holder_id
from certsvc.domain.status import LicenceStatus
from certsvc.errors import (
    AuthorizationUnknownError,
    BadRequestError,
    CertsvcError,
    NotFoundError,
    NoValidLicenceError,
    SharingRefusedError,
)
from certsvc.rendering.charts import qr_png
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.holders import Holder, UsageView, licence_status, record_usage
from certsvc.services.link_secret import link_secret
from certsvc.services.principals import Principal, Role
from certsvc.storage.orm import Certificate
from certsvc.storage.orm_sharing import SharingAuthorization
from certsvc.storage.repositories import CertificateRepository, DepartmentRepository
from certsvc.storage.repositories_sharing import SharingRepository

__all__ = [
    "AuthorizationService",
    "AuthorizationState",
    "AuthorizationView",
    "CheckAnswer",
    "DownloadLink",
    "QueryAnswer",
    "SharedLicence",
    "SharingService",
    "format_code",
    "normalise_code",
    "qr_image",
]

# Crockford-like alphabet without 0/O, 1/I/L, U: read out at a window without confusion.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_LENGTH = 8  # 30^8 ≈ 6.6e11 codes; a code is useless without the holder id and the right department
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


@dataclass(frozen=True, slots=True)
class DownloadLink:
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class SharedLicence:
    identifier: str
    template: str
    licence_name: str
    type_code: str
    department_code: str
    department_name: str
    holder_name: str
    holder_id_type: str
    holder_id: str
    fields: dict[str, object]
    status: str
    valid_from: date
    valid_until: date
    issued_at: datetime
    sha256: str
    download: DownloadLink
    usage_record_id: int


@dataclass(frozen=True, slots=True)
class QueryAnswer:
    licences: tuple[SharedLicence, ...]
    authorization_code: str


@dataclass(frozen=True, slots=True)
class CheckAnswer:
    is_match: bool
    usage_record_id: int


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
    cert = SharingRepository(session).certificate_by_id(a.certificate_id) if a.certificate_id else None
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


def _text(value: str, field: str, max_len: int) -> str:
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

    def _licence_type(self, text: str) -> tuple[str, str]:
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
        application_no = _text(application_no, "application_no", 64)
        purpose = _text(purpose, "purpose", 200)
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
                if cert is None or (cert.holder_id_type, cert.holder_id) != (holder.id_type.value, holder.id):
                    raise NotFoundError("no such licence")
                template, type_code, certificate_id = cert.template, cert.type_code, cert.id
            else:
                assert licence_type is not None
                template, type_code = self._licence_type(licence_type.strip())
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
            return [_view(session, a, now) for a in repo.authorizations_for_holder(holder.id_type.value, holder.id)]

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

    def withdraw(self, holder: Holder, code: str, *, request_id: str | None = None) -> AuthorizationView:
        """Withdraw an authorization; later queries with it are refused. Idempotent.

        Raises:
            AuthorizationUnknownError: no such code.
            SharingRefusedError: ``holder_mismatch`` — the code belongs to another holder
                (recorded where that holder can see it).
        """
        now = self.ctx.clock.now()
        refusal: SharingRefusedError | None = None
        with self.ctx.database.transaction() as session:
            a = SharingRepository(session).authorization_by_code(normalise_code(code), for_update=True)
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
                refusal = SharingRefusedError("this authorization belongs to another holder", code="holder_mismatch")
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


# --- receiving departments --------------------------------------------------------------------
class SharingService:
    """The receiving department's side: query with an authorization, check, download, export."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def query(
        self,
        principal: Principal,
        *,
        holder_id_type: str,
        holder_id: str,
        licence_type: str,
        authorization_code: str,
        application_no: str,
        reason: str,
        request_id: str | None = None,
    ) -> QueryAnswer:
        """The holder's valid licences of a type, under the holder's authorization.

        Raises:
            InvalidHolderIdError, BadRequestError: malformed request (not recorded).
            AuthorizationUnknownError: no such authorization code (recorded).
            SharingRefusedError: with ``forbidden`` (not a sharing client),
                ``authorization_other_holder``, ``authorization_other_department``,
                ``authorization_withdrawn``, ``authorization_expired``, ``authorization_used``,
                ``authorization_other_licence_type``, ``authorization_other_application``
                (each recorded).
            NoValidLicenceError: in scope, but no valid licence (recorded).
        """
        id_type = _id_type(holder_id_type)
        holder_id = validate_holder_id(id_type, holder_id)
        application_no = _text(application_no, "application_no", 64)
        reason = _text(reason, "reason", 200)
        _, type_code = AuthorizationService(self.ctx)._licence_type(licence_type.strip())
        code = normalise_code(authorization_code)
        now = self.ctx.clock.now()
        today = now.date()
        holder = (id_type.value, holder_id)
        common = {"at": now, "operation": "query", "principal": principal, "holder": holder, "type_code": type_code,
                  "application_no": application_no, "reason": reason, "request_id": request_id}
        with self.ctx.database.transaction() as session:
            repo = SharingRepository(session)
            a = repo.authorization_by_code(code, for_update=True)
            refusal: CertsvcError | None = _scope_refusal(a, principal, holder=holder, type_code=type_code, application_no=application_no, now=now)
            if refusal is not None:
                record_usage(session, result=refusal.code, authorization_id=a.id if a else None, **common)  # type: ignore[arg-type]
            else:
                assert a is not None
                if a.certificate_id is not None:
                    cert = repo.certificate_by_id(a.certificate_id)
                    candidates = [cert] if cert is not None else []
                else:
                    candidates = list(repo.certificates_for_holder(holder[0], holder[1], type_code=type_code))
                valid = [c for c in candidates if licence_status(c, today=today) is LicenceStatus.VALID]
                if not valid:
                    record_usage(session, result="no_valid_licence", authorization_id=a.id, **common)  # type: ignore[arg-type]
                    refusal = NoValidLicenceError("the holder has no valid licence this authorization covers")
                else:
                    # A single-use authorization is spent by the first answer that delivers data.
                    a.used_at = a.used_at or now
                    a.use_count += 1
                    shared = []
                    for cert in valid:
                        record = record_usage(session, result="ok", authorization_id=a.id, certificate=cert, **common)  # type: ignore[arg-type]
                        shared.append(self._shared(cert, record.id, principal, now))
                    answer = QueryAnswer(licences=tuple(shared), authorization_code=a.code)
        if refusal is not None:
            raise refusal
        return answer

    def _shared(self, cert: Certificate, record_id: int, principal: Principal, now: datetime) -> SharedLicence:
        current = next(v for v in cert.versions if v.version == cert.current_version)
        expires_at = now + timedelta(seconds=self.ctx.settings.sharing_link_seconds)
        return SharedLicence(
            identifier=cert.identifier,
            template=cert.template,
            licence_name=self.ctx.templates.get(cert.template).name if cert.template in self.ctx.templates else cert.template,
            type_code=cert.type_code,
            department_code=cert.department.code,
            department_name=cert.department.name,
            holder_name=cert.holder_name,
            holder_id_type=cert.holder_id_type,
            holder_id=cert.holder_id,
            fields=dict(cert.data),
            status=LicenceStatus.VALID.value,
            valid_from=cert.valid_from,
            valid_until=cert.valid_until,
            issued_at=cert.issued_at,
            sha256=current.sha256,
            download=DownloadLink(self._sign_link(record_id, principal.client_id, expires_at), expires_at),
            usage_record_id=record_id,
        )

    def check(
        self,
        principal: Principal,
        *,
        holder_id_type: str,
        holder_id: str,
        identifier: str,
        licence_type: str,
        application_no: str,
        reason: str,
        request_id: str | None = None,
    ) -> CheckAnswer:
        """核验: do the data a department was told match a valid licence? Yes or no, nothing more.

        No authorization is needed because nothing is disclosed beyond the caller's own data:
        "no such licence", "another holder" and "not valid" all answer ``is_match=False``.

        Raises:
            SharingRefusedError: ``forbidden`` — not a sharing client (recorded).
            InvalidHolderIdError, BadRequestError: malformed request (not recorded).
        """
        id_type = _id_type(holder_id_type)
        holder_id = validate_holder_id(id_type, holder_id)
        application_no = _text(application_no, "application_no", 64)
        reason = _text(reason, "reason", 200)
        _, type_code = AuthorizationService(self.ctx)._licence_type(licence_type.strip())
        now = self.ctx.clock.now()
        holder = (id_type.value, holder_id)
        common = {"at": now, "operation": "check", "principal": principal, "holder": holder, "type_code": type_code,
                  "application_no": application_no, "reason": reason, "request_id": request_id}
        refusal: SharingRefusedError | None = None
        with self.ctx.database.transaction() as session:
            if principal.role is not Role.SHARING or principal.department_id is None:
                record_usage(session, result="forbidden", certificate_identifier=identifier[:130], **common)  # type: ignore[arg-type]
                refusal = SharingRefusedError("this action needs the role sharing", code="forbidden")
            else:
                cert = CertificateRepository(session).by_identifier(identifier.strip())
                is_match = (
                    cert is not None
                    and cert.identifier == identifier.strip()  # an older version's identifier is superseded
                    and (cert.holder_id_type, cert.holder_id) == holder
                    and cert.type_code == type_code
                    and licence_status(cert, today=now.date()) is LicenceStatus.VALID
                )
                record = record_usage(
                    session,
                    result="match" if is_match else "no_match",
                    certificate=cert if is_match else None,
                    # A mismatch keeps the identifier the caller sent, not the licence it may belong to.
                    certificate_identifier=None if is_match else identifier.strip()[:130],
                    **common,  # type: ignore[arg-type]
                )
                answer = CheckAnswer(is_match=is_match, usage_record_id=record.id)
        if refusal is not None:
            raise refusal
        return answer

    # --- signed, short-lived download links ---------------------------------------------------
    def _sign_link(self, record_id: int, client_id: int, expires_at: datetime) -> str:
        payload = _b64(json.dumps({"u": record_id, "c": client_id, "e": int(expires_at.timestamp())}, separators=(",", ":")).encode())
        mac = hmac.new(link_secret(self.ctx), payload.encode(), hashlib.sha256).digest()
        return f"{payload}.{_b64(mac)}"

    def download(self, principal: Principal, token: str, *, request_id: str | None = None) -> tuple[str, bytes]:
        """The signed PDF behind a download link from a query answer.

        The link is bound to the client that queried (it needs that client's key too) and
        lives ``sharing_link_seconds``; each download is recorded.

        Raises:
            NotFoundError: ``download_link_invalid`` — altered or made up.
            SharingRefusedError: ``download_link_expired``, ``download_link_other_client``,
                ``authorization_withdrawn``, ``forbidden``.
            NoValidLicenceError: the licence stopped being valid since the query.
        """
        payload, _, mac = token.partition(".")
        expected = _b64(hmac.new(link_secret(self.ctx), payload.encode(), hashlib.sha256).digest())
        # An altered or made-up link is "not found": it names nothing certsvc handed out.
        if not mac or not hmac.compare_digest(mac, expected):
            raise NotFoundError("the download link is not valid", code="download_link_invalid")
        try:
            data = json.loads(_unb64(payload))
            record_id, client_id, expires = int(data["u"]), int(data["c"]), int(data["e"])
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise NotFoundError("the download link is not valid", code="download_link_invalid") from exc
        now = self.ctx.clock.now()
        error: Exception | None = None
        with self.ctx.database.transaction() as session:
            repo = SharingRepository(session)
            origin = repo.usage_by_id(record_id)
            if origin is None or origin.certificate_id is None:
                raise NotFoundError("the download link is not valid", code="download_link_invalid")
            cert = repo.certificate_by_id(origin.certificate_id)
            a = repo.authorization_by_id(origin.authorization_id) if origin.authorization_id else None
            assert cert is not None
            result = "ok"
            if principal.role is not Role.SHARING:
                result, error = "forbidden", SharingRefusedError("this action needs the role sharing", code="forbidden")
            elif principal.client_id != client_id:
                result, error = "download_link_other_client", SharingRefusedError(
                    "the download link was given to another client", code="download_link_other_client"
                )
            elif now.timestamp() > expires:
                result, error = "download_link_expired", SharingRefusedError("the download link has expired", code="download_link_expired")
            elif a is not None and a.withdrawn_at is not None:
                result, error = "authorization_withdrawn", SharingRefusedError(
                    "the holder withdrew the authorization", code="authorization_withdrawn"
                )
            elif licence_status(cert, today=now.date()) is not LicenceStatus.VALID:
                result, error = "no_valid_licence", NoValidLicenceError("the licence is no longer valid")
            record_usage(
                session,
                at=now,
                operation="download",
                result=result,
                principal=principal,
                holder=(cert.holder_id_type, cert.holder_id),
                authorization_id=origin.authorization_id,
                certificate=cert,
                application_no=origin.application_no,
                reason=origin.reason,
                request_id=request_id,
            )
            current = next(v for v in cert.versions if v.version == cert.current_version)
            name, digest = current.identifier, current.sha256
        if error is not None:
            raise error
        return name, self.ctx.blobs.get(digest)

    def usage_export(
        self, principal: Principal, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[UsageView]:
        """The calling department's own usage records (for its records management).

        Raises:
            SharingRefusedError: ``forbidden`` — the client belongs to no department.
        """
        if principal.department_id is None:
            raise SharingRefusedError("this client belongs to no department", code="forbidden")
        with self.ctx.database.read() as session:
            rows = SharingRepository(session).usage_for_department(principal.department_id, since=since, until=until)
            return [_for_department(UsageView.of(r)) for r in rows]


def _for_department(view: UsageView) -> UsageView:
    """A department's own record as it may see it: holder data only where it was authorized.

    A refused query or a check holds what the department itself sent, but echoing a holder id
    back from records is still disclosure without consent; the masked id keeps the record
    recognisable for the department's files.
    """
    if view.result == "ok":
        return view
    return dataclasses.replace(
        view,
        holder_id=mask_holder_id(view.holder_id) if view.holder_id else None,
        certificate_identifier=None,
    )


def _id_type(text: str) -> HolderIdType:
    try:
        return {"111": HolderIdType.RESIDENT_ID, "001": HolderIdType.USCC}.get(text) or HolderIdType(text)
    except ValueError:
        raise BadRequestError(
            "holder id type must be uscc or resident_id (GB/T 36903: 001 or 111)",
            code="validation_failed",
            details=[{"field": "holder_id_type", "problem": "uscc | resident_id"}],
        ) from None


def _scope_refusal(
    a: SharingAuthorization | None,
    principal: Principal,
    *,
    holder: tuple[str, str],
    type_code: str,
    application_no: str,
    now: datetime,
) -> SharingRefusedError | AuthorizationUnknownError | None:
    """The first rule the request breaks, or None. Order matters: a department that is not the
    authorized one learns nothing about the authorization's state."""
    if principal.role is not Role.SHARING or principal.department_id is None:
        return SharingRefusedError("this action needs the role sharing", code="forbidden")
    if a is None:
        return AuthorizationUnknownError("no such authorization")
    if (a.holder_id_type, a.holder_id) != holder:
        return SharingRefusedError("the authorization was given by another holder", code="authorization_other_holder")
    if a.department_id != principal.department_id:
        return SharingRefusedError("the authorization was given to another department", code="authorization_other_department")
    if a.withdrawn_at is not None:
        return SharingRefusedError("the holder withdrew the authorization", code="authorization_withdrawn")
    if a.expires_at <= now:
        return SharingRefusedError("the authorization has expired", code="authorization_expired")
    if a.is_single_use and a.used_at is not None:
        return SharingRefusedError("the single-use authorization was already used", code="authorization_used")
    if a.type_code != type_code:
        return SharingRefusedError("the authorization covers another licence type", code="authorization_other_licence_type")
    if a.application_no != application_no:
        return SharingRefusedError("the authorization is for another application", code="authorization_other_application")
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
