"""Holders: signing in with an identity provider's token, their space (一人一档/一企一档), usage records.

A holder is a person (居民身份证号码) or an organisation (统一社会信用代码). certsvc keeps no
passwords for them: an external OpenID Connect provider signs a JWT that names the holder in two
claims (id type and id), and certsvc checks it against the provider's published keys (JWKS).
"""

from __future__ import annotations

import hashlib
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NoReturn

from sqlalchemy.orm import Session

from certsvc.config import Settings
from certsvc.crypto import api as crypto
from certsvc.domain.identifiers import HolderIdType, mask_holder_id, validate_holder_id
from certsvc.domain.paging import Page, PageRequest
from certsvc.domain.status import LicenceStatus, effective_status
from certsvc.errors import (
    CertsvcError,
    HolderTokenError,
    KeyUnavailableError,
    PermissionDeniedError,
)
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, authenticate
from certsvc.storage.orm import Certificate
from certsvc.storage.orm_sharing import HolderTokenUse, UsageRecord
from certsvc.storage.repositories_sharing import SharingRepository

__all__ = [
    "Holder",
    "HolderCertificate",
    "HolderService",
    "JwksSource",
    "UsageView",
    "licence_status",
    "record_usage",
]

_MAX_JWKS_BYTES = 64 * 1024
_API_KEY_PREFIX = (
    "csk_"  # API keys are csk_<key id>_<secret> (services/principals.py); a JWT never starts so
)
_MIN_REFRESH_SECONDS = (
    10.0  # an unknown kid refetches the JWKS at most this often (forged kids can't hammer the IdP)
)

# JwtFailure → the stable code the caller sees. Every way to be refused has its own code.
_CODES: dict[crypto.JwtFailure, str] = {
    crypto.JwtFailure.MALFORMED: "holder_token_malformed",
    crypto.JwtFailure.UNSUPPORTED_ALGORITHM: "holder_token_forged",
    crypto.JwtFailure.UNKNOWN_KEY: "holder_token_forged",
    crypto.JwtFailure.BAD_SIGNATURE: "holder_token_forged",
    crypto.JwtFailure.EXPIRED: "holder_token_expired",
    crypto.JwtFailure.NOT_YET_VALID: "holder_token_not_yet_valid",
    crypto.JwtFailure.WRONG_ISSUER: "holder_token_wrong_issuer",
    crypto.JwtFailure.WRONG_AUDIENCE: "holder_token_wrong_audience",
    crypto.JwtFailure.MISSING_CLAIM: "holder_token_missing_claim",
    crypto.JwtFailure.TOO_LONG_LIVED: "holder_token_too_long_lived",
}
# GB/T 36903 holder code types, accepted beside certsvc's own names in the id-type claim.
_ID_TYPE_ALIASES = {"111": HolderIdType.RESIDENT_ID, "001": HolderIdType.USCC}


@dataclass(frozen=True, slots=True)
class Holder:
    """A signed-in holder, as the identity provider vouched for them."""

    id_type: HolderIdType
    id: str
    name: str | None
    subject: str
    token_id: str
    token_expires_at: datetime

    @property
    def masked(self) -> str:
        return f"{self.id_type.value}:{mask_holder_id(self.id)}"


@dataclass(frozen=True, slots=True)
class HolderCertificate:
    identifier: str
    template: str
    licence_name: str
    type_code: str
    department_code: str
    department_name: str
    holder_name: str
    status: str
    valid_from: date
    valid_until: date
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class UsageView:
    id: int
    at: datetime
    operation: str
    result: str
    department_code: str | None
    client_name: str | None
    holder_id_type: str | None
    holder_id: str | None
    certificate_identifier: str | None
    type_code: str | None
    application_no: str | None
    reason: str | None
    audit_event_id: int | None

    @classmethod
    def of(cls, r: UsageRecord) -> UsageView:
        return cls(
            r.id,
            r.at,
            r.operation,
            r.result,
            r.department_code,
            r.client_name,
            r.holder_id_type,
            r.holder_id,
            r.certificate_identifier,
            r.type_code,
            r.application_no,
            r.reason,
            r.audit_event_id,
        )


def licence_status(cert: Certificate, *, today: date) -> LicenceStatus:
    """The status a reader sees today (a valid licence past its last day is expired)."""
    return effective_status(
        LicenceStatus(cert.status),
        valid_from=cert.valid_from,
        valid_until=cert.valid_until,
        today=today,
    )


_OK_RESULTS = frozenset({"ok", "match", "no_match"})


def record_usage(
    session: Session,
    *,
    at: datetime,
    operation: str,
    result: str,
    principal: Principal | None = None,
    holder: tuple[str, str] | None = None,
    authorization_id: int | None = None,
    certificate: Certificate | None = None,
    certificate_identifier: str | None = None,
    type_code: str | None = None,
    application_no: str | None = None,
    reason: str | None = None,
    request_id: str | None = None,
    details: dict[str, Any] | None = None,
    matter_code: str | None = None,
) -> UsageRecord:
    """Write one usage record (用证留痕) and its entry in the audit chain, in the caller's transaction.

    The audit entry carries the record's id and only a masked holder id: the chain is read by
    operators, the full record by the holder and the department concerned.
    """
    record = SharingRepository(session).add_usage(
        UsageRecord(
            at=at,
            operation=operation,
            result=result,
            department_id=principal.department_id if principal else None,
            department_code=principal.department_code if principal else None,
            client_id=principal.client_id if principal else None,
            client_name=principal.name if principal else None,
            holder_id_type=holder[0] if holder else None,
            holder_id=holder[1] if holder else None,
            authorization_id=authorization_id,
            certificate_id=certificate.id if certificate is not None else None,
            certificate_identifier=certificate.identifier
            if certificate is not None
            else certificate_identifier,
            type_code=type_code or (certificate.type_code if certificate is not None else None),
            application_no=application_no,
            reason=reason,
            request_id=request_id,
            matter_code=matter_code,
        )
    )
    record.audit_event_id = append_audit_event(
        session,
        at=at,
        actor=principal,
        action=f"sharing.{operation}",
        target=record.certificate_identifier
        or (f"holder:{holder[0]}:{mask_holder_id(holder[1])}" if holder else "-"),
        outcome="ok" if result in _OK_RESULTS else "refused",
        request_id=request_id,
        details={
            "usage_record_id": record.id,
            "result": result,
            "application_no": application_no,
            "authorization_id": authorization_id,
            **(details or {}),
        },
    )
    session.flush()
    return record


class JwksSource:
    """The identity provider's keys: from a URL (cached, refetched on an unknown kid) or a file."""

    def __init__(self, settings: Settings) -> None:
        self._url = settings.oidc_jwks_url
        self._file = settings.oidc_jwks_file
        self._ttl = float(settings.oidc_jwks_cache_seconds)
        self._keys: crypto.JsonWebKeySet | None = None
        self._fetched = 0.0
        self._lock = threading.Lock()
        self.fetches = 0  # observable in tests: the cache really caches

    def keys(self, *, refresh: bool = False) -> crypto.JsonWebKeySet:
        """The current key set.

        Raises:
            KeyUnavailableError: the JWKS cannot be fetched or read.
            ConfigurationError: the JWKS document is unusable.
        """
        with self._lock:
            age = time.monotonic() - self._fetched
            stale = (
                self._keys is None or age > self._ttl or (refresh and age > _MIN_REFRESH_SECONDS)
            )
            if stale:
                self._keys = crypto.parse_jwks(self._load())
                self._fetched = time.monotonic()
                self.fetches += 1
            assert self._keys is not None
            return self._keys

    def _load(self) -> bytes:
        if self._file is not None:
            try:
                return self._file.read_bytes()[:_MAX_JWKS_BYTES]
            except OSError as exc:
                raise KeyUnavailableError(
                    "the identity provider's key file cannot be read",
                    code="identity_provider_unavailable",
                ) from exc
        if self._url is None:
            raise HolderTokenError(
                "holder sign-in is not configured", code="holder_sign_in_disabled"
            )
        try:
            with urllib.request.urlopen(self._url, timeout=5) as response:
                return bytes(response.read(_MAX_JWKS_BYTES + 1))[:_MAX_JWKS_BYTES]
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise KeyUnavailableError(
                "the identity provider's keys cannot be fetched",
                code="identity_provider_unavailable",
            ) from exc


_SOURCES: dict[tuple[str | None, str | None], JwksSource] = {}
_SOURCES_LOCK = threading.Lock()


def _source(settings: Settings) -> JwksSource:
    key = (
        settings.oidc_jwks_url,
        str(settings.oidc_jwks_file) if settings.oidc_jwks_file else None,
    )
    with _SOURCES_LOCK:
        source = _SOURCES.get(key)
        if source is None:
            source = _SOURCES[key] = JwksSource(settings)
        return source


class HolderService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def authenticate(
        self, token: str | None, *, consume: bool = False, request_id: str | None = None
    ) -> Holder:
        """Verify a holder's bearer token and say who it names.

        ``consume`` spends the token's ``jti``: a consent change (granting or withdrawing) needs
        a token never used for one before, so a captured token cannot be replayed to grant
        access. Reading one's own space may reuse a token within its (short) life.

        Raises:
            HolderTokenError: with a code per reason (``holder_token_forged``, ``…_expired``,
                ``…_replayed``, ``…_wrong_issuer``, ``…_wrong_audience``, ``…_malformed``,
                ``…_missing_claim``, ``…_too_long_lived``, ``…_not_yet_valid``,
                ``holder_token_invalid_holder``, ``holder_token_missing``); each one but a
                missing token is recorded (usage record + audit event).
            KeyUnavailableError: the identity provider's keys cannot be fetched.
        """
        settings = self.ctx.settings
        if not token:
            # Not recorded: a request without any credential says nothing about a holder.
            raise HolderTokenError(
                "a holder identity token is required (Authorization: Bearer <JWT>)",
                code="holder_token_missing",
            )
        now = self.ctx.clock.now()
        if token.startswith(_API_KEY_PREFIX):
            # An API client is not a holder: a good key is refused (403), a bad one unauthenticated (401).
            with self.ctx.database.read() as session:
                authenticate(session, token, now=now)
            raise PermissionDeniedError(
                "holder routes need a holder identity token, not an API key",
                code="holder_token_required",
            )
        if settings.oidc_issuer is None:
            raise HolderTokenError(
                "holder sign-in is not configured", code="holder_sign_in_disabled"
            )
        try:
            verified = self._verify(token, now=now)
            holder = self._holder(verified)
        except crypto.TokenRejectedError as exc:
            self._refuse(
                _CODES[exc.failure],
                exc.message,
                holder=None,
                request_id=request_id,
                now=now,
                failure=exc.failure.value,
            )
        except HolderTokenError as exc:
            self._refuse(exc.code, exc.message, holder=None, request_id=request_id, now=now)
        if consume:
            jti_hash = hashlib.sha256(
                f"{settings.oidc_issuer}\n{holder.token_id}".encode()
            ).hexdigest()
            with self.ctx.database.transaction() as session:
                repo = SharingRepository(session)
                is_replay = repo.is_token_spent(jti_hash)
                if not is_replay:
                    repo.forget_tokens_expired_before(
                        now - timedelta(seconds=settings.oidc_leeway_seconds)
                    )
                    repo.spend_token(
                        HolderTokenUse(
                            jti_sha256=jti_hash, used_at=now, expires_at=holder.token_expires_at
                        )
                    )
            if is_replay:
                self._refuse(
                    "holder_token_replayed",
                    "this token was already used to change a consent; sign in again",
                    holder=holder,
                    request_id=request_id,
                    now=now,
                )
        return holder

    def _verify(self, token: str, *, now: datetime) -> crypto.VerifiedToken:
        settings = self.ctx.settings
        assert settings.oidc_issuer is not None
        source = _source(settings)
        options = {
            "issuer": settings.oidc_issuer,
            "audience": settings.oidc_audience,
            "now": now,
            "algorithms": tuple(settings.oidc_algorithms),
            "leeway": timedelta(seconds=settings.oidc_leeway_seconds),
            "max_lifetime": timedelta(seconds=settings.oidc_max_token_lifetime_seconds),
        }
        try:
            return crypto.verify_jwt(token, keys=source.keys(), **options)  # type: ignore[arg-type]
        except crypto.TokenRejectedError as exc:
            if exc.failure is not crypto.JwtFailure.UNKNOWN_KEY:
                raise
        # The provider may have rotated its keys since we fetched them: look once more.
        return crypto.verify_jwt(token, keys=source.keys(refresh=True), **options)  # type: ignore[arg-type]

    def _holder(self, verified: crypto.VerifiedToken) -> Holder:
        settings = self.ctx.settings
        claims = verified.claims
        raw_type = claims.get(settings.oidc_holder_id_type_claim)
        raw_id = claims.get(settings.oidc_holder_id_claim)
        if not isinstance(raw_type, str) or not isinstance(raw_id, str):
            raise HolderTokenError(
                "the token does not name a holder (id type and id claims)",
                code="holder_token_missing_claim",
            )
        try:
            id_type = _ID_TYPE_ALIASES.get(raw_type) or HolderIdType(raw_type)
            holder_id = validate_holder_id(id_type, raw_id)
        except (ValueError, CertsvcError) as exc:
            raise HolderTokenError(
                "the token names no valid holder id", code="holder_token_invalid_holder"
            ) from exc
        name = claims.get("name")
        return Holder(
            id_type=id_type,
            id=holder_id,
            name=name if isinstance(name, str) else None,
            subject=str(claims.get("sub", "")),
            token_id=str(claims["jti"]),
            token_expires_at=verified.expires_at,
        )

    def _refuse(
        self,
        code: str,
        message: str,
        *,
        holder: Holder | None,
        request_id: str | None,
        now: datetime,
        failure: str | None = None,
    ) -> NoReturn:
        # The refusal is committed on its own, so it stays recorded although the request fails.
        with self.ctx.database.transaction() as session:
            record_usage(
                session,
                at=now,
                operation="holder_sign_in",
                result=code,
                holder=(holder.id_type.value, holder.id) if holder else None,
                request_id=request_id,
                details={"failure": failure} if failure else None,
            )
        raise HolderTokenError(message, code=code)

    def certificates(
        self, holder: Holder, *, request_id: str | None = None
    ) -> list[HolderCertificate]:
        """Every licence of the holder, across departments, with today's status."""
        today = self.ctx.clock.now().date()
        with self.ctx.database.transaction() as session:
            certs = SharingRepository(session).certificates_for_holder(
                holder.id_type.value, holder.id
            )
            result = [
                HolderCertificate(
                    identifier=c.identifier,
                    template=c.template,
                    licence_name=self.ctx.templates.get(c.template).name
                    if c.template in self.ctx.templates
                    else c.template,
                    type_code=c.type_code,
                    department_code=c.department.code,
                    department_name=c.department.name,
                    holder_name=c.holder_name,
                    status=licence_status(c, today=today).value,
                    valid_from=c.valid_from,
                    valid_until=c.valid_until,
                    issued_at=c.issued_at,
                )
                for c in certs
            ]
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=None,
                action="holder.certificates",
                target=f"holder:{holder.masked}",
                request_id=request_id,
                details={"count": len(result)},
            )
            return result

    def usage(self, holder: Holder, *, page: PageRequest) -> Page[UsageView]:
        """The recorded uses of the holder's licences (and refused attempts naming them), oldest first."""
        with self.ctx.database.read() as session:
            return (
                SharingRepository(session)
                .usage_for_holder(holder.id_type.value, holder.id, page)
                .map(UsageView.of)
            )
