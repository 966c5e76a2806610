"""Who is calling: API clients with a role, and how their keys are made and checked."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.orm import Session

from certsvc.errors import AuthenticationError, PermissionDeniedError
from certsvc.storage.orm import ApiClient
from certsvc.storage.repositories import ApiClientRepository, DepartmentRepository

__all__ = ["NewApiKey", "Principal", "Role", "authenticate", "create_api_client", "local_operator", "require_role"]

_PREFIX = "csk"


class Role(StrEnum):
    ISSUER = "issuer"  # issues and manages its own department's licences
    OPERATOR = "operator"  # administration and batch work across departments
    SHARING = "sharing"  # receiving departments (material waiver)
    TIMESTAMPING = "timestamping"  # RFC 3161 clients of the built-in TSA, nothing else


@dataclass(frozen=True, slots=True)
class Principal:
    client_id: int
    name: str
    role: Role
    department_id: int | None
    department_code: str | None
    # The person at the CLI (OS user or --operator); API clients are named by their client id.
    operator: str | None = None

    @property
    def label(self) -> str:
        """What the audit log records as the actor."""
        if self.operator is not None:
            return f"operator:{self.operator}"
        return f"client:{self.client_id}:{self.name}"


@dataclass(frozen=True, slots=True)
class NewApiKey:
    client_id: int
    api_key: str  # shown once, never stored


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_client(
    session: Session, *, name: str, role: Role, department_id: int | None, expires_at: datetime | None = None
) -> NewApiKey:
    """Create a client and its key. The key is ``csk_<key id>_<secret>``; only a hash is kept."""
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    client = ApiClientRepository(session).add(
        ApiClient(
            name=name,
            role=role.value,
            department_id=department_id,
            key_id=key_id,
            key_hash=_hash_secret(secret),
            expires_at=expires_at,
        )
    )
    return NewApiKey(client_id=client.id, api_key=f"{_PREFIX}_{key_id}_{secret}")


def authenticate(session: Session, api_key: str | None, *, now: datetime) -> Principal:
    """Resolve an API key to a principal.

    Raises:
        AuthenticationError: missing, malformed, unknown, expired or revoked key (one message
            for all, so a caller learns nothing about which keys exist).
    """
    failure = AuthenticationError("a valid API key is required (Authorization: Bearer <key>)")
    if not api_key:
        raise failure
    parts = api_key.split("_", 2)
    if len(parts) != 3 or parts[0] != _PREFIX:
        raise failure
    client = ApiClientRepository(session).by_key_id(parts[1])
    if client is None or not hmac.compare_digest(client.key_hash, _hash_secret(parts[2])):
        raise failure
    if client.revoked_at is not None or (client.expires_at is not None and client.expires_at <= now):
        raise failure
    code = None
    if client.department_id is not None:
        department = DepartmentRepository(session).by_id(client.department_id)
        if department is None or department.status != "active":
            # A suspended department's clients stop working at once, without revoking each key.
            raise failure
        code = department.code
    return Principal(
        client_id=client.id,
        name=client.name,
        role=Role(client.role),
        department_id=client.department_id,
        department_code=code,
    )


def require_role(principal: Principal, *roles: Role) -> None:
    """Raises ``PermissionDeniedError`` unless the principal has one of ``roles``."""
    if principal.role not in roles:
        raise PermissionDeniedError(f"this action needs the role {' or '.join(r.value for r in roles)}")


def local_operator(operator: str | None = None) -> Principal:
    """The operator behind the CLI (whoever can run it holds the deployment's keys anyway).

    ``operator`` names the person in the audit log; the CLI passes the OS user or ``--operator``.
    """
    return Principal(
        client_id=0, name="cli", role=Role.OPERATOR, department_id=None, department_code=None, operator=operator
    )
