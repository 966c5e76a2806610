"""A seal key's life: rotation to a new key and certificate, and every version a key sealed.

Rotation is one operation for the operator: a new key (in the same key store as the old one,
or a named token) with a certificate from the same CA, the department's default moved to it
when the old seal was the default, the old seal retired from a given time, and optionally a
batch re-sign of the old seal's licences onto the new one. Each step is an audit event.

Usage: every sealed version's audit event names the certificate of the key that sealed it
(``signing_certificate_sha256``), so the versions a key sealed are listed from the audit log
itself, the record an auditor already trusts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, cast, select

from certsvc.crypto import api as crypto
from certsvc.errors import BadRequestError, ConflictError, NotFoundError
from certsvc.services.audit import append_audit_event
from certsvc.services.bilingual import RingLayout
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.provisioning import TokenKeyName, add_seal
from certsvc.storage.orm import AuditEvent, Seal
from certsvc.storage.repositories_lifecycle import SealAdminRepository
from certsvc.storage.repositories_rules import SealChoiceRepository

__all__ = ["SealKeyService", "SealRotation", "SealUse"]


@dataclass(frozen=True, slots=True)
class SealRotation:
    old_seal_id: int
    new_seal_id: int
    retired_from: datetime
    new_certificate_sha256: str
    is_default_moved: bool
    resign_job_id: int | None


@dataclass(frozen=True, slots=True)
class SealUse:
    """One version sealed with a seal's key, from the audit log."""

    at: datetime
    action: str
    licence: str  # the identifier the audit event targets
    version: int | None
    sha256: str | None  # the sealed file
    audit_event_id: int


class SealKeyService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def rotate(
        self,
        seal_id: int,
        *,
        principal: Principal,
        retire_at: datetime | None = None,
        token_key: TokenKeyName | None = None,
        resign: bool = False,
        reason: str = "seal key rotation",
    ) -> SealRotation:
        """Give a seal a successor with a new key and certificate; retire the old one.

        ``retire_at`` (default now) may lie in the future: the old seal keeps sealing until
        then. With ``resign`` a re-sign job of the old seal's licences onto the new seal is
        planned (``certsvc batch resume JOB`` runs it).

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown seal.
            ConflictError: the seal is retired already.
            BadRequestError: ``retire_at`` before now, or a token asked for an SM2 seal.
            KeyUnavailableError: the new key cannot be made (token, CA).
        """
        require_role(principal, Role.OPERATOR)
        now = self.ctx.clock.now()
        retired_from = retire_at or now
        if retired_from < now:
            raise BadRequestError(
                "a seal is retired from now or later, not in the past", code="retire_in_past"
            )
        with self.ctx.database.transaction() as session:
            old = SealAdminRepository(session).by_id(seal_id)
            if old is None:
                raise NotFoundError(f"no seal {seal_id}")
            if old.status != "active":
                raise ConflictError(f"seal {seal_id} is {old.status}", code="seal_retired")
            department = old.department
            if token_key is None and crypto.is_token_key_ref(old.key_ref):
                raise BadRequestError(
                    "the old key is in a token: name the new key's --token-label and --key-label",
                    code="bad_key_store",
                )
            new = add_seal(
                self.ctx, session, department=department, name=old.name, algorithm=crypto.KeyAlgorithm(old.algorithm),
                actor=principal, validity_days=max(1, (old.valid_until - old.valid_from).days), name_mn=old.name_mn,
                ring_layout=RingLayout(old.ring_layout), purpose=old.purpose, token_key=token_key,
            )  # fmt: skip
            is_default_moved = old.is_default
            if is_default_moved:
                SealChoiceRepository(session).make_default(new)
            _retire(old, retired_from, now)
            new_cert_sha = crypto.sha256(new.certificate_der)
            append_audit_event(
                session, at=now, actor=principal, action="seal.rotate", target=f"department:{department.code}",
                details={"seal_id": old.id, "new_seal_id": new.id, "retired_from": retired_from.isoformat(),
                         "old_certificate_sha256": crypto.sha256(old.certificate_der),
                         "new_certificate_sha256": new_cert_sha, "is_default_moved": is_default_moved,
                         "reason": reason},
            )  # fmt: skip
            new_id, old_id = new.id, old.id
        self.ctx.forget_seal(old_id)
        job_id = None
        if resign:
            from certsvc.services.batch import BatchService

            job_id = (
                BatchService(self.ctx)
                .create_resign_job(
                    to_seal_id=new_id, from_seal_id=old_id, principal=principal, reason=reason
                )
                .job_id
            )
            with self.ctx.database.transaction() as session:
                append_audit_event(
                    session, at=self.ctx.clock.now(), actor=principal, action="seal.rotate.resign",
                    target=f"department:{department.code}",
                    details={"seal_id": old_id, "new_seal_id": new_id, "job_id": job_id},
                )  # fmt: skip
        return SealRotation(old_id, new_id, retired_from, new_cert_sha, is_default_moved, job_id)

    def usage(self, seal_id: int, *, principal: Principal) -> list[SealUse]:
        """Every version the seal's key sealed, oldest first, as the audit log records them.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown seal.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            seal = session.get(Seal, seal_id)
            if seal is None:
                raise NotFoundError(f"no seal {seal_id}")
            fingerprint = crypto.sha256(seal.certificate_der)
            # The JSON column is searched as text (the same on SQLite and PostgreSQL), then
            # each candidate is checked exactly.
            events = session.scalars(
                select(AuditEvent)
                .where(cast(AuditEvent.details, String).contains(fingerprint))
                .order_by(AuditEvent.id)
            ).all()
            return [
                SealUse(
                    e.at,
                    e.action,
                    e.target,
                    _int_or_none(e.details.get("version")),
                    e.details.get("sha256"),
                    e.id,
                )
                for e in events
                if e.details.get("signing_certificate_sha256") == fingerprint
            ]


def _retire(seal: Seal, retired_from: datetime, now: datetime) -> None:
    # A seal retired later keeps sealing until then: its validity ends at that time.
    if retired_from <= now:
        seal.status = "retired"
    seal.valid_until = min(seal.valid_until, retired_from)


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) else None
