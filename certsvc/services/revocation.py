"""Revoking seal certificates, and what the development seal CAs publish about it (CRL, OCSP).

A revocation records two instants (docs/ltv.md): when it was recorded (``revoked_at``, now)
and from when the seal's key must not be trusted (``invalid_from``, RFC 5280 invalidityDate),
which an operator may set earlier than now, for a key compromise discovered late. Verification
then trusts a seal's signature only if a trusted time-stamp proves it was made before
``invalid_from``; licences sealed earlier stay valid, and ``certsvc batch resign`` re-seals any
that the operator prefers to replace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.domain.revocation_policy import KEY_COMPROMISE
from certsvc.errors import ConflictError, NotFoundError, ValidationFailedError
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role, require_role
from certsvc.storage.orm import Seal
from certsvc.storage.orm_revocation import SealRevocation
from certsvc.storage.repositories_lifecycle import SealAdminRepository
from certsvc.storage.repositories_revocation import SealRevocationRepository

__all__ = [
    "CA_FAMILIES",
    "RevocationInfo",
    "RevocationService",
    "adopt_recorded_compromises",
    "record_key_compromise",
]

CA_FAMILIES = ("ecdsa", "sm2")
# Relying parties fetch a fresh CRL at least this often (RFC 5280 nextUpdate).
_CRL_LIFETIME = timedelta(days=1)
# A CRL embedded at sealing may be this old (it is re-made at once after a revocation).
_CRL_REUSE = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class RevocationInfo:
    seal_id: int
    certificate_sha256: str
    serial_hex: str
    reason: str
    revoked_at: datetime
    invalid_from: datetime

    @classmethod
    def of(cls, row: SealRevocation) -> RevocationInfo:
        return cls(
            row.seal_id,
            row.certificate_sha256,
            row.serial_hex,
            row.reason,
            row.revoked_at,
            row.invalid_from,
        )


@dataclass(frozen=True)
class _SealCa:
    certificate_der: bytes
    key: crypto.SealKey


class RevocationService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def revoke_seal(
        self, seal_id: int, *, reason: str, invalid_from: datetime | None, principal: Principal
    ) -> RevocationInfo:
        """Revoke a seal's certificate; the seal seals nothing more.

        Raises:
            PermissionDeniedError: not an operator.
            ValidationFailedError: unknown reason, or ``invalid_from`` in the future or naive.
            NotFoundError: unknown seal.
            ConflictError: already revoked (code ``seal_revoked``), unless for a key compromise:
                that moves the invalidity time earlier (never later).
        """
        require_role(principal, Role.OPERATOR)
        now = self.ctx.clock.now()
        problems = []
        if reason not in crypto.REVOCATION_REASONS:
            problems.append(
                {"field": "reason", "problem": "one of " + ", ".join(crypto.REVOCATION_REASONS)}
            )
        if invalid_from is not None and (invalid_from.tzinfo is None or invalid_from > now):
            problems.append({"field": "at", "problem": "a time with a zone, not in the future"})
        if problems:
            raise ValidationFailedError("cannot revoke", details=problems)
        with self.ctx.database.transaction() as session:
            if reason == KEY_COMPROMISE:
                # A compromise reported again (or after another revocation) moves the
                # invalidity time earlier if it is; the earliest report stands.
                row = record_key_compromise(
                    session, seal_id, invalid_from or now, principal=principal, now=now
                )
            else:
                seal = SealAdminRepository(session).by_id(seal_id)
                if seal is None:
                    raise NotFoundError(f"no seal {seal_id}")
                if SealRevocationRepository(session).by_seal(seal_id) is not None:
                    raise ConflictError(f"seal {seal_id} is already revoked", code="seal_revoked")
                row = _revoke(
                    session,
                    seal,
                    reason=reason,
                    invalid_from=invalid_from or now,
                    principal=principal,
                    now=now,
                )
            info = RevocationInfo.of(row)
        self.forget_revoked(seal_id)
        return info

    def forget_revoked(self, seal_id: int) -> None:
        """Drop what this process cached of a seal that was just revoked, and the CRLs."""
        self.ctx.forget_seal(seal_id)
        for family in CA_FAMILIES:
            self.ctx.forget_loaded(f"current-crl-{family}")

    def revocations(self, certificate_sha256s: list[str]) -> dict[str, RevocationInfo]:
        """The revocations of these seal certificates (by SHA-256), for verification."""
        with self.ctx.database.read() as session:
            rows = SealRevocationRepository(session).by_certificates(certificate_sha256s)
            return {k: RevocationInfo.of(v) for k, v in rows.items()}

    def _ca(self, family: str) -> _SealCa:
        if family not in CA_FAMILIES:
            raise NotFoundError(f"no seal CA {family!r}")
        cert_file = self.ctx.pki_dir / f"dev-seal-ca-{family}.der"
        ref = f"dev-seal-ca-{family}"
        if not cert_file.exists() or not self.ctx.keys.exists(ref):
            raise NotFoundError(f"no seal CA {family!r} in this deployment")

        def load() -> _SealCa:
            return _SealCa(cert_file.read_bytes(), self.ctx.open_key_file(ref))

        return self.ctx.loaded(f"seal-ca-{family}", load)

    def crl(self, family: str) -> bytes:
        """The current CRL of the development seal CA of ``family`` (DER), signed now.

        Raises:
            NotFoundError: no such CA in this deployment.
        """
        ca = self._ca(family)
        now = self.ctx.clock.now()
        with self.ctx.database.read() as session:
            rows = SealRevocationRepository(session).issued_by(crypto.sha256(ca.certificate_der))
            revoked = [
                crypto.RevokedCertificate(
                    int(r.serial_hex, 16), r.revoked_at, r.invalid_from, r.reason
                )
                for r in rows
            ]
        # CRL numbers only grow (RFC 5280 §5.2.3): the signing time in seconds does.
        return crypto.make_crl(
            ca_der=ca.certificate_der, ca_key=ca.key, revoked=revoked, this_update=now,
            next_update=now + _CRL_LIFETIME, number=int(now.timestamp()),
        )  # fmt: skip

    def current_crl(self, family: str) -> bytes:
        """The CRL embedded in licences at sealing (B-LT): made at most every ten minutes, and
        again at once after a revocation (which forgets it)."""
        now = self.ctx.clock.now()
        name = f"current-crl-{family}"
        kept = self.ctx.peek_loaded(name)
        if isinstance(kept, tuple) and kept[0] <= now < kept[0] + _CRL_REUSE:
            return bytes(kept[1])
        # Made outside ``loaded``: signing it loads the CA key, itself a loaded value, and the
        # lock is not re-entrant.
        made = (now, self.crl(family))
        self.ctx.forget_loaded(name)
        return self.ctx.loaded(name, lambda: made)[1]

    def ocsp(self, family: str, request_der: bytes) -> bytes:
        """An OCSP response (DER) from the development seal CA of ``family``; a request that
        cannot be read, or asks about another CA's or an unknown certificate, gets the RFC 6960
        error answer, never an HTTP error.

        Raises:
            NotFoundError: no such CA in this deployment.
        """
        ca = self._ca(family)
        try:
            serial = crypto.ocsp_request_serial(request_der, ca_der=ca.certificate_der)
        except ValueError:
            return crypto.ocsp_malformed()
        with self.ctx.database.read() as session:
            repo = SealRevocationRepository(session)
            seal = next(
                (
                    s for s in repo.seals()
                    if s.chain_der and _b64(s.chain_der[0]) == ca.certificate_der
                    and int(crypto.certificate_summary(s.certificate_der).serial_hex, 16) == serial
                ),
                None,
            )  # fmt: skip
            row = repo.by_seal(seal.id) if seal is not None else None
            certificate = seal.certificate_der if seal is not None else None
        now = self.ctx.clock.now()
        revoked = (
            crypto.RevokedCertificate(serial, row.revoked_at, row.invalid_from, row.reason)
            if row
            else None
        )
        return crypto.make_ocsp_response(
            request_der=request_der, ca_der=ca.certificate_der, ca_key=ca.key, certificate_der=certificate,
            revocation=revoked, this_update=now, next_update=now + _CRL_LIFETIME,
        )  # fmt: skip


def record_key_compromise(
    session: Session, seal_id: int, at: datetime, *, principal: Principal, now: datetime
) -> SealRevocation:
    """Record (in the caller's transaction) that a seal's key may have been in other hands since
    ``at``: the seal is revoked for key compromise with invalidity time ``at``, or, if already
    revoked, its invalidity time moves to ``at`` when that is earlier. The one place both
    ``seal revoke --reason key-compromise`` and ``batch resign --compromised-at`` record it.

    Raises:
        NotFoundError: no such seal.
    """
    seal = SealAdminRepository(session).by_id(seal_id)
    if seal is None:
        raise NotFoundError(f"no seal {seal_id}")
    row = SealRevocationRepository(session).by_seal(seal_id)
    if row is None:
        return _revoke(
            session, seal, reason=KEY_COMPROMISE, invalid_from=at, principal=principal, now=now
        )
    row.reason = KEY_COMPROMISE
    row.invalid_from = min(row.invalid_from, at)
    append_audit_event(
        session, at=now, actor=principal, action="seal.compromised", target=f"department:{seal.department.code}",
        details={"seal_id": seal.id, "invalid_from": row.invalid_from.isoformat()},
    )  # fmt: skip
    return row


def adopt_recorded_compromises(ctx: ServiceContext) -> int:
    """Turn compromise times stored on seals (``seals.compromised_at``, written before the
    revocation became the one record) into key-compromise revocations; returns how many.
    Runs at start-up, like the other data halves of migrations."""
    with ctx.database.read() as session:
        if not SealAdminRepository(session).with_compromise_time():
            return 0
    system = Principal(
        client_id=0, name="start-up", role=Role.OPERATOR, department_id=None, department_code=None
    )
    now = ctx.clock.now()
    with ctx.database.transaction() as session:
        seals = SealAdminRepository(session).with_compromise_time()
        for seal in seals:
            assert seal.compromised_at is not None  # the query's condition
            record_key_compromise(session, seal.id, seal.compromised_at, principal=system, now=now)
            seal.compromised_at = None
    for seal_id in (s.id for s in seals):
        RevocationService(ctx).forget_revoked(seal_id)
    return len(seals)


def _revoke(
    session: Session,
    seal: Seal,
    *,
    reason: str,
    invalid_from: datetime,
    principal: Principal,
    now: datetime,
) -> SealRevocation:
    summary = crypto.certificate_summary(seal.certificate_der)
    issuer = next(iter(seal.chain_der), None)
    row = SealRevocationRepository(session).add(
        SealRevocation(
            seal_id=seal.id,
            certificate_sha256=summary.sha256_fingerprint,
            serial_hex=summary.serial_hex,
            issuer_sha256=crypto.sha256(_b64(issuer)) if issuer else "",
            reason=reason,
            revoked_at=now,
            invalid_from=invalid_from,
            actor=principal.label,
        )
    )
    seal.status = "revoked"
    append_audit_event(
        session, at=now, actor=principal, action="seal.revoke", target=f"department:{seal.department.code}",
        details={"seal_id": seal.id, "reason": reason, "invalid_from": row.invalid_from.isoformat()},
    )  # fmt: skip
    return row


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode(text)
