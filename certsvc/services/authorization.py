"""Authorising a request: authenticate the key, check the role, and record every refusal."""

from __future__ import annotations

from certsvc.errors import AuthenticationError, PermissionDeniedError
from certsvc.services.audit import AuditService, append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role, authenticate

__all__ = ["authorize"]


def authorize(
    ctx: ServiceContext,
    api_key: str | None,
    *,
    roles: frozenset[Role],
    target: str,
    request_id: str | None,
) -> Principal:
    """The caller behind ``api_key`` if its role is one of ``roles``.

    The key is checked in a read (no write lock). Every refusal is appended to the audit log
    (outcome ``unauthenticated`` or ``forbidden``) in its own transaction, committed before the
    error is raised. A successful call also signs an audit checkpoint when one is due.

    Raises:
        AuthenticationError: missing, unknown, expired or revoked key (401).
        PermissionDeniedError: the key is good but its role is not allowed here (403).
    """
    now = ctx.clock.now()
    # Authentication only reads: a good key never takes the write lock. A refusal is written
    # in a transaction of its own, and so is an audit checkpoint when one is due.
    refusal: AuthenticationError | PermissionDeniedError | None = None
    actor: Principal | None = None
    outcome = ""
    details: dict[str, object] = {}
    is_checkpoint_due = False
    with ctx.database.read() as session:
        try:
            principal = authenticate(session, api_key, now=now)
        except AuthenticationError as exc:
            refusal, outcome = exc, "unauthenticated"
            # The key id (never the secret) says which key was tried, when one was well-formed.
            parts = (api_key or "").split("_", 2)
            details = {"key_id": parts[1][:32] if len(parts) == 3 else None}
        else:
            if principal.role not in roles:
                refusal, outcome, actor = (
                    PermissionDeniedError(
                        f"this action needs the role {' or '.join(sorted(r.value for r in roles))}"
                    ),
                    "forbidden",
                    principal,
                )
                details = {"role": principal.role.value}
            else:
                is_checkpoint_due = AuditService(ctx).is_checkpoint_due(session)
    if refusal is not None:
        with ctx.database.transaction() as session:
            append_audit_event(
                session,
                at=now,
                actor=actor,
                action="auth.refused",
                target=target,
                outcome=outcome,
                request_id=request_id,
                details=details,
            )
        raise refusal
    if is_checkpoint_due:
        with ctx.database.transaction() as session:
            AuditService(ctx).checkpoint_if_due(session)
    return principal
