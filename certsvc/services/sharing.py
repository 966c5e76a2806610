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
from dataclasses import dataclass
from datetime import date, datetime, timedelta

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
from certsvc.services.authorizations import AuthorizationService, checked_text, normalise_code
from certsvc.services.context import ServiceContext
from certsvc.services.downloads import Download
from certsvc.services.holders import UsageView, licence_status, record_usage
from certsvc.services.link_secret import link_secret
from certsvc.services.principals import Principal, Role
from certsvc.storage.orm import Certificate
from certsvc.storage.orm_sharing import SharingAuthorization, UsageRecord
from certsvc.storage.repositories import CertificateRepository
from certsvc.storage.repositories_sharing import SharingRepository

__all__ = [
    "CheckAnswer",
    "DownloadLink",
    "QueryAnswer",
    "SharedLicence",
    "SharingService",
]


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


@dataclass(frozen=True, slots=True)
class _Use:
    """One query or check as its usage record describes it, whatever the outcome."""

    at: datetime
    operation: str
    principal: Principal
    holder: tuple[str, str]
    type_code: str
    application_no: str
    reason: str
    request_id: str | None
    matter_code: str | None = None

    def record(
        self,
        session: Session,
        *,
        result: str,
        authorization_id: int | None = None,
        certificate: Certificate | None = None,
        certificate_identifier: str | None = None,
    ) -> UsageRecord:
        return record_usage(
            session,
            at=self.at,
            operation=self.operation,
            result=result,
            principal=self.principal,
            holder=self.holder,
            authorization_id=authorization_id,
            certificate=certificate,
            certificate_identifier=certificate_identifier,
            type_code=self.type_code,
            application_no=self.application_no,
            reason=self.reason,
            request_id=self.request_id,
            matter_code=self.matter_code,
        )


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
        matter_code: str | None = None,
    ) -> QueryAnswer:
        """The holder's valid licences of a type, under the holder's authorization.

        ``matter_code`` names the 政务服务事项 of the application (it is recorded, so the
        programme figures count the materials waived per matter).

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
        application_no = checked_text(application_no, "application_no", 64)
        reason = checked_text(reason, "reason", 200)
        _, type_code = AuthorizationService(self.ctx).licence_type(licence_type.strip())
        code = normalise_code(authorization_code)
        now = self.ctx.clock.now()
        today = now.date()
        holder = (id_type.value, holder_id)
        matter = checked_text(matter_code, "matter_code", 64) if matter_code else None
        use = _Use(
            now, "query", principal, holder, type_code, application_no, reason, request_id, matter
        )
        with self.ctx.database.transaction() as session:
            repo = SharingRepository(session)
            a = repo.authorization_by_code(code, for_update=True)
            refusal: CertsvcError | None = _scope_refusal(
                a,
                principal,
                holder=holder,
                type_code=type_code,
                application_no=application_no,
                now=now,
            )
            if refusal is not None:
                use.record(session, result=refusal.code, authorization_id=a.id if a else None)
            else:
                assert a is not None
                if a.certificate_id is not None:
                    cert = repo.certificate_by_id(a.certificate_id)
                    candidates = [cert] if cert is not None else []
                else:
                    candidates = list(
                        repo.certificates_for_holder(holder[0], holder[1], type_code=type_code)
                    )
                valid = [
                    c for c in candidates if licence_status(c, today=today) is LicenceStatus.VALID
                ]
                if not valid:
                    use.record(session, result="no_valid_licence", authorization_id=a.id)
                    refusal = NoValidLicenceError(
                        "the holder has no valid licence this authorization covers"
                    )
                else:
                    # A single-use authorization is spent by the first answer that delivers data.
                    a.used_at = a.used_at or now
                    a.use_count += 1
                    shared = []
                    for cert in valid:
                        record = use.record(
                            session, result="ok", authorization_id=a.id, certificate=cert
                        )
                        shared.append(self._shared(cert, record.id, principal, now))
                    answer = QueryAnswer(licences=tuple(shared), authorization_code=a.code)
        if refusal is not None:
            raise refusal
        return answer

    def _shared(
        self, cert: Certificate, record_id: int, principal: Principal, now: datetime
    ) -> SharedLicence:
        current = next(v for v in cert.versions if v.version == cert.current_version)
        expires_at = now + timedelta(seconds=self.ctx.settings.sharing_link_seconds)
        return SharedLicence(
            identifier=cert.identifier,
            template=cert.template,
            licence_name=self.ctx.templates.get(cert.template).name
            if cert.template in self.ctx.templates
            else cert.template,
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
            download=DownloadLink(
                self._sign_link(record_id, principal.client_id, expires_at), expires_at
            ),
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
        application_no = checked_text(application_no, "application_no", 64)
        reason = checked_text(reason, "reason", 200)
        _, type_code = AuthorizationService(self.ctx).licence_type(licence_type.strip())
        now = self.ctx.clock.now()
        holder = (id_type.value, holder_id)
        use = _Use(now, "check", principal, holder, type_code, application_no, reason, request_id)
        refusal: SharingRefusedError | None = None
        with self.ctx.database.transaction() as session:
            if principal.role is not Role.SHARING or principal.department_id is None:
                use.record(session, result="forbidden", certificate_identifier=identifier[:130])
                refusal = SharingRefusedError(
                    "this action needs the role sharing", code="forbidden"
                )
            else:
                cert = CertificateRepository(session).by_identifier(identifier.strip())
                is_match = (
                    cert is not None
                    and cert.identifier
                    == identifier.strip()  # an older version's identifier is superseded
                    and (cert.holder_id_type, cert.holder_id) == holder
                    and cert.type_code == type_code
                    and licence_status(cert, today=now.date()) is LicenceStatus.VALID
                )
                record = use.record(
                    session,
                    result="match" if is_match else "no_match",
                    certificate=cert if is_match else None,
                    # A mismatch keeps the identifier the caller sent, not the licence it may belong to.
                    certificate_identifier=None if is_match else identifier.strip()[:130],
                )
                answer = CheckAnswer(is_match=is_match, usage_record_id=record.id)
        if refusal is not None:
            raise refusal
        return answer

    # --- signed, short-lived download links ---------------------------------------------------
    def _sign_link(self, record_id: int, client_id: int, expires_at: datetime) -> str:
        payload = _b64(
            json.dumps(
                {"u": record_id, "c": client_id, "e": int(expires_at.timestamp())},
                separators=(",", ":"),
            ).encode()
        )
        mac = hmac.new(link_secret(self.ctx), payload.encode(), hashlib.sha256).digest()
        return f"{payload}.{_b64(mac)}"

    def download(
        self, principal: Principal, token: str, *, request_id: str | None = None
    ) -> Download:
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
        # Bytes, not str: compare_digest refuses non-ASCII text, and a link is whatever was typed.
        if not mac or not hmac.compare_digest(mac.encode(), expected.encode()):
            raise NotFoundError("the download link is not valid", code="download_link_invalid")
        try:
            data = json.loads(_unb64(payload))
            record_id, client_id, expires = int(data["u"]), int(data["c"]), int(data["e"])
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise NotFoundError(
                "the download link is not valid", code="download_link_invalid"
            ) from exc
        now = self.ctx.clock.now()
        error: Exception | None = None
        with self.ctx.database.transaction() as session:
            repo = SharingRepository(session)
            origin = repo.usage_by_id(record_id)
            if origin is None or origin.certificate_id is None:
                raise NotFoundError("the download link is not valid", code="download_link_invalid")
            cert = repo.certificate_by_id(origin.certificate_id)
            a = (
                repo.authorization_by_id(origin.authorization_id)
                if origin.authorization_id
                else None
            )
            assert cert is not None
            result = "ok"
            if principal.role is not Role.SHARING:
                result, error = (
                    "forbidden",
                    SharingRefusedError("this action needs the role sharing", code="forbidden"),
                )
            elif principal.client_id != client_id:
                result, error = (
                    "download_link_other_client",
                    SharingRefusedError(
                        "the download link was given to another client",
                        code="download_link_other_client",
                    ),
                )
            elif now.timestamp() > expires:
                result, error = (
                    "download_link_expired",
                    SharingRefusedError(
                        "the download link has expired", code="download_link_expired"
                    ),
                )
            elif a is not None and a.withdrawn_at is not None:
                result, error = (
                    "authorization_withdrawn",
                    SharingRefusedError(
                        "the holder withdrew the authorization", code="authorization_withdrawn"
                    ),
                )
            elif licence_status(cert, today=now.date()) is not LicenceStatus.VALID:
                result, error = (
                    "no_valid_licence",
                    NoValidLicenceError("the licence is no longer valid"),
                )
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
        return Download.open(self.ctx.blobs, name, digest)

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
            rows = SharingRepository(session).usage_for_department(
                principal.department_id, since=since, until=until
            )
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
        return {"111": HolderIdType.RESIDENT_ID, "001": HolderIdType.USCC}.get(
            text
        ) or HolderIdType(text)
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
        return SharingRefusedError(
            "the authorization was given by another holder", code="authorization_other_holder"
        )
    if a.department_id != principal.department_id:
        return SharingRefusedError(
            "the authorization was given to another department",
            code="authorization_other_department",
        )
    if a.withdrawn_at is not None:
        return SharingRefusedError(
            "the holder withdrew the authorization", code="authorization_withdrawn"
        )
    if a.expires_at <= now:
        return SharingRefusedError("the authorization has expired", code="authorization_expired")
    if a.is_single_use and a.used_at is not None:
        return SharingRefusedError(
            "the single-use authorization was already used", code="authorization_used"
        )
    if a.type_code != type_code:
        return SharingRefusedError(
            "the authorization covers another licence type", code="authorization_other_licence_type"
        )
    if a.application_no != application_no:
        return SharingRefusedError(
            "the authorization is for another application", code="authorization_other_application"
        )
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
