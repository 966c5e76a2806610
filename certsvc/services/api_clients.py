"""API clients, by operators: create one (its key shown once), list them, revoke one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from certsvc.domain.paging import Page, PageRequest
from certsvc.errors import ConflictError, NotFoundError, ValidationFailedError
from certsvc.services.audit import append_audit_event
from certsvc.services.context import ServiceContext
from certsvc.services.principals import NewApiKey, Principal, Role, create_api_client, require_role
from certsvc.services.provisioning import department_by_code
from certsvc.storage.orm import ApiClient
from certsvc.storage.repositories import DepartmentRepository
from certsvc.storage.repositories_lifecycle import ClientAdminRepository

__all__ = ["ApiClientService", "ClientInfo"]


@dataclass(frozen=True, slots=True)
class ClientInfo:
    id: int
    name: str
    role: str
    department_code: str | None
    key_id: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None


class ApiClientService:
    """Every method needs the operator role; each change is audited."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def add_client(
        self,
        *,
        name: str,
        role: str,
        department_code: str | None,
        expires_at: datetime | None,
        principal: Principal,
    ) -> NewApiKey:
        """Create an API client; the key in the result is shown once and never stored.

        Raises:
            PermissionDeniedError: not an operator.
            ValidationFailedError: unknown role, a department missing for issuer/sharing (or
                given for an operator), an empty name, an expiry in the past.
            NotFoundError: unknown department.
        """
        require_role(principal, Role.OPERATOR)
        try:
            client_role = Role(role)
        except ValueError as exc:
            raise ValidationFailedError(
                "unknown role", details=[{"field": "role", "problem": "issuer, operator, sharing or timestamping"}]
            ) from exc
        if not name.strip() or len(name) > 100:
            raise ValidationFailedError("invalid name", details=[{"field": "name", "problem": "1 to 100 characters"}])
        if (client_role in (Role.OPERATOR, Role.TIMESTAMPING)) == (department_code is not None):
            raise ValidationFailedError(
                "issuer and sharing clients belong to a department; operators and timestamping clients to none",
                details=[{"field": "department_code", "problem": "required for issuer/sharing, not allowed for operator/timestamping"}],
            )
        now = self.ctx.clock.now()
        if expires_at is not None and expires_at <= now:
            raise ValidationFailedError("expiry in the past", details=[{"field": "expires_at", "problem": "in the past"}])
        with self.ctx.database.transaction() as session:
            department_id = department_by_code(session, department_code).id if department_code else None
            key = create_api_client(
                session, name=name.strip(), role=client_role, department_id=department_id, expires_at=expires_at
            )
            append_audit_event(
                session,
                at=now,
                actor=principal,
                action="client.add",
                target=f"client:{key.client_id}",
                details={"role": client_role.value, "department": department_code, "expires_at": expires_at},
            )
            return key

    def list_clients(
        self, *, principal: Principal, page: PageRequest, department_code: str | None = None
    ) -> Page[ClientInfo]:
        """Raises: PermissionDeniedError: not an operator. NotFoundError: unknown department."""
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            department_id = department_by_code(session, department_code).id if department_code else None
            codes = {d.id: d.code for d in DepartmentRepository(session).all()}
            found = ClientAdminRepository(session).page(page, department_id=department_id)
            return found.map(lambda c: _client_info(c, codes))

    def revoke_client(self, client_id: int, *, principal: Principal) -> ClientInfo:
        """Revoke a client's key at once.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: unknown client.
            ConflictError: already revoked.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.transaction() as session:
            client = ClientAdminRepository(session).by_id(client_id)
            if client is None:
                raise NotFoundError(f"no client {client_id}")
            if client.revoked_at is not None:
                raise ConflictError(f"client {client_id} is already revoked", code="client_revoked")
            client.revoked_at = self.ctx.clock.now()
            append_audit_event(
                session, at=client.revoked_at, actor=principal, action="client.revoke", target=f"client:{client.id}"
            )
            codes = {d.id: d.code for d in DepartmentRepository(session).all()}
            return _client_info(client, codes)


def _client_info(client: ApiClient, codes: dict[int, str]) -> ClientInfo:
    return ClientInfo(
        client.id,
        client.name,
        client.role,
        codes.get(client.department_id) if client.department_id is not None else None,
        client.key_id,
        client.created_at,
        client.expires_at,
        client.revoked_at,
    )
