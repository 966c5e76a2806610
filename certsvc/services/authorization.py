"""Authorising a request: authenticate the key, check the role, and record every refusal."""

from __future__ import annotations

from certsvc.errors import AuthenticationError, PermissionDeniedError
from certsvc.services.audit import AuditService, append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role, authenticate

__all__ = ["authorize"]


def authorize(
    ctx: ServiceContext, api_key: str | None, *, roles: frozenset[Role], target: str, request_id: str | None
) -> Principal:
    """The caller behind ``api_key`` if its role is one of ``roles``.

    Every refusal is appended to the audit log (outcome ``unauthenticated`` or ``forbidden``)
    in its own transaction, committed before the error is raised. A successful call also signs
    an audit checkpoint when one is due.

    Raises:
        AuthenticationError: missing, unknown, expired or revoked key (401).
        PermissionDeniedError: the key is good but its role is not allowed here (403).
    """
    now = ctx.clock.now()
    refusal: AuthenticationError | PermissionDeniedError | None = None
    with ctx.database.transaction() as session:
        try:
            principal = authenticate(session, api_key, now=now)
        except AuthenticationError as exc:
            refusal = exc
            # The key id (never the secret) says which key was tried, when one was well-formed.
            parts = (api_key or "").split("_", 2)
            tried = parts[1][:32] if len(parts) == 3 else None
            append_audit_event(
                session,
                at=now,
                actor=None,
                action="auth.refused",
                target=target,
                outcome="unauthenticated",
                request_id=request_id,
                details={"key_id": tried},
            )
        else:
            if principal.role not in roles:
                refusal = PermissionDeniedError(
                    f"this action needs the role {' or '.join(sorted(r.value for r in roles))}"
                )
                append_audit_event(
                    session,
                    at=now,
                    actor=principal,
                    action="auth.refused",
                    target=target,
                    outcome="forbidden",
                    request_id=request_id,
                    details={"role": principal.role.value},
                )
            else:
                AuditService(ctx).checkpoint_if_due(session)
    if refusal is not None:
        raise refusal
    return principal
