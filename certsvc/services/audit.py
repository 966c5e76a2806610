"""The audit log: an append-only hash chain of everything that matters."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from certsvc.services.principals import Principal
from certsvc.storage.orm import AuditEvent
from certsvc.storage.repositories import AuditRepository

__all__ = ["GENESIS_HASH", "append_audit_event", "entry_hash"]

GENESIS_HASH = "0" * 64


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the entry's fields."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def append_audit_event(
    session: Session,
    *,
    at: datetime,
    actor: Principal | None,
    action: str,
    target: str,
    outcome: str = "ok",
    request_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction."""
    repo = AuditRepository(session)
    repo.lock_chain()
    head = repo.head()
    prev = head.entry_hash if head is not None else GENESIS_HASH
    fields: dict[str, Any] = {
        "at": at.isoformat(),
        "actor_client_id": actor.client_id if actor else None,
        "actor_department_id": actor.department_id if actor else None,
        "actor": actor.label if actor else "system",
        "action": action,
        "target": target,
        "request_id": request_id,
        "outcome": outcome,
        "details": details or {},
    }
    return repo.add(
        AuditEvent(
            at=at,
            actor_client_id=fields["actor_client_id"],
            actor_department_id=fields["actor_department_id"],
            actor=fields["actor"],
            action=action,
            target=target,
            request_id=request_id,
            outcome=outcome,
            details=fields["details"],
            prev_hash=prev,
            entry_hash=entry_hash(prev, fields),
        )
    )
