"""Who may see which licence: the one rule, and the one way a refusal is recorded.

A department sees its own licences; an operator sees all. Another department's licence is
answered exactly like an unknown identifier (404), so identifiers are never confirmed to a
caller who may not see them, and the attempt is appended to the audit log, in a transaction of
its own once the caller's has ended (a refused read must leave a trace even though the read
itself is rolled back).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session

from certsvc.errors import NotFoundError
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role
from certsvc.storage.orm import Certificate
from certsvc.storage.repositories import CertificateRepository

__all__ = ["REFUSED_OUTCOME", "licence_access", "visible_licence"]

REFUSED_OUTCOME = "refused_other_department"  # the audit outcome of every refused attempt


class _ForeignLicenceError(NotFoundError):
    """The licence exists but belongs to another department: a 404 to the caller."""

    def __init__(self, identifier: str) -> None:
        super().__init__("no such licence")
        self.identifier = identifier


def visible_licence(session: Session, identifier: str, principal: Principal) -> Certificate:
    """The licence named by ``identifier`` (any of its versions' identifiers) if ``principal`` may see it.

    Use inside ``licence_access``, which turns a refusal into an audited 404.

    Raises:
        NotFoundError: no such licence, or another department's (the same answer).
    """
    cert = CertificateRepository(session).by_identifier(identifier)
    if cert is None:
        raise NotFoundError("no such licence")
    if principal.role is not Role.OPERATOR and cert.department_id != principal.department_id:
        raise _ForeignLicenceError(cert.identifier)
    return cert


@contextmanager
def licence_access(
    ctx: ServiceContext, principal: Principal, *, action: str, request_id: str | None
) -> Iterator[None]:
    """Wrap the caller's transaction: a refusal by ``visible_licence`` inside it is recorded.

    Raises:
        NotFoundError: re-raised for another department's licence, after the refusal (audit
            action ``certificate.<action>``, outcome ``refused_other_department``) is committed.
    """
    try:
        yield
    except _ForeignLicenceError as refused:
        with ctx.database.transaction() as session:
            append_audit_event(
                session,
                at=ctx.clock.now(),
                actor=principal,
                action=f"certificate.{action}",
                target=refused.identifier,
                outcome=REFUSED_OUTCOME,
                request_id=request_id,
            )
        raise NotFoundError("no such licence") from None
