"""The audit chain's records: how an entry is hashed and what a checkpoint signs."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from certsvc.storage.orm import AuditEvent
from certsvc.storage.orm_lifecycle import AuditCheckpoint

__all__ = [
    "GENESIS_HASH",
    "checkpoint_hash",
    "checkpoint_message",
    "entry_hash",
    "event_fields",
    "stored_checkpoint_message",
]

GENESIS_HASH = "0" * 64


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the entry's fields."""
    canonical = json.dumps(
        fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str
    )
    return hashlib.sha256(f"{prev_hash}\n{canonical}".encode()).hexdigest()


def event_fields(event: AuditEvent) -> dict[str, Any]:
    """The hashed fields of a stored event, exactly as they were hashed when it was appended."""
    return {
        "at": event.at.astimezone(UTC).isoformat(),
        "actor_client_id": event.actor_client_id,
        "actor_department_id": event.actor_department_id,
        "actor": event.actor,
        "action": event.action,
        "target": event.target,
        "request_id": event.request_id,
        "outcome": event.outcome,
        "details": event.details or {},
    }


def checkpoint_message(
    at: datetime,
    last_event_id: int,
    head_hash: str,
    event_count: int,
    *,
    sequence: int | None = None,
    prev_checkpoint_hash: str | None = None,
) -> bytes:
    body: dict[str, Any] = {
        "type": "certsvc-audit-checkpoint",
        "at": at.astimezone(UTC).isoformat(),
        "last_event_id": last_event_id,
        "head_hash": head_hash,
        "event_count": event_count,
    }
    if sequence is not None:  # checkpoints made before numbering signed the fields above only
        body |= {"sequence": sequence, "prev_checkpoint_hash": prev_checkpoint_hash}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def stored_checkpoint_message(cp: AuditCheckpoint) -> bytes:
    """The message a stored checkpoint signed (numbered or not)."""
    return checkpoint_message(
        cp.at,
        cp.last_event_id,
        cp.head_hash,
        cp.event_count,
        sequence=cp.sequence,
        prev_checkpoint_hash=cp.prev_checkpoint_hash,
    )


def checkpoint_hash(message: bytes) -> str:
    """What the next checkpoint names as its predecessor."""
    return hashlib.sha256(message).hexdigest()
