"""The audit log: an append-only hash chain of everything that matters, anchored by signed checkpoints.

Each entry carries the SHA-256 of the previous one, so changing, removing or reordering an entry
breaks the chain where it happened. Someone with write access to the database could recompute
the whole chain after a change; the checkpoints stop that: every N entries (and on demand) the
chain head is signed with the service's own key, which lives in the key store, not the database.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.errors import KeyUnavailableError
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal
from certsvc.storage.orm import AuditEvent
from certsvc.storage.orm_lifecycle import AuditCheckpoint
from certsvc.storage.repositories import AuditRepository
from certsvc.storage.repositories_lifecycle import AuditChainRepository

__all__ = [
    "AUDIT_KEY_REF",
    "GENESIS_HASH",
    "AuditService",
    "ChainProblem",
    "ChainProblemKind",
    "ChainReport",
    "CheckpointInfo",
    "append_audit_event",
    "ensure_audit_key",
    "entry_hash",
    "event_fields",
    "verify_chain",
]

GENESIS_HASH = "0" * 64
AUDIT_KEY_REF = "audit-signing"  # the service's own key (ECDSA P-256), never a department's seal key


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """SHA-256 over the previous hash and a canonical JSON of the entry's fields."""
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
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
) -> int:
    """Append one event to the chain inside the caller's transaction; returns its id.

    The chain lock serialises appends (SQLite: BEGIN IMMEDIATE; PostgreSQL: an advisory lock),
    so concurrent writers never read the same head and fork the chain. Everything but the
    previous hash is prepared before the head is read.
    """
    # Normalised to UTC: the stored column gives UTC back, and the hash must be recomputable.
    at = at.astimezone(UTC)
    # Details pass through JSON once so that what is hashed is what the JSON column returns.
    details = json.loads(json.dumps(details or {}, ensure_ascii=False, default=str))
    fields: dict[str, Any] = {
        "at": at.isoformat(),
        "actor_client_id": actor.client_id if actor else None,
        "actor_department_id": actor.department_id if actor else None,
        "actor": actor.label if actor else "system",
        "action": action,
        "target": target[:200],
        "request_id": request_id,
        "outcome": outcome,
        "details": details,
    }
    repo = AuditRepository(session)
    repo.lock_chain()
    prev = repo.head_hash() or GENESIS_HASH
    return repo.append({**fields, "at": at, "prev_hash": prev, "entry_hash": entry_hash(prev, fields)})


class ChainProblemKind(StrEnum):
    CHANGED = "changed"  # an entry's content no longer matches its hash (or was rewritten)
    REMOVED = "removed"  # entries are missing before this one (or at the end, per a checkpoint)
    REORDERED = "reordered"  # this entry links to an entry that is elsewhere in the chain
    CHECKPOINT_INVALID = "checkpoint_invalid"  # a checkpoint's signature fails: forged or altered


@dataclass(frozen=True, slots=True)
class ChainProblem:
    kind: ChainProblemKind
    event_id: int | None  # the first entry found wrong (None: the problem is a checkpoint)
    position: int | None  # 1-based position of that entry in id order
    message: str
    checkpoint_id: int | None = None


@dataclass(frozen=True, slots=True)
class ChainReport:
    is_intact: bool
    entries: int
    head_event_id: int | None
    head_hash: str
    checkpoints: int
    problem: ChainProblem | None


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    id: int
    at: datetime
    last_event_id: int
    head_hash: str
    event_count: int


def _checkpoint_message(at: datetime, last_event_id: int, head_hash: str, event_count: int) -> bytes:
    return json.dumps(
        {
            "type": "certsvc-audit-checkpoint",
            "at": at.astimezone(UTC).isoformat(),
            "last_event_id": last_event_id,
            "head_hash": head_hash,
            "event_count": event_count,
        },
        sort_keys=True,
        separators=(",", ":"),
    ).encode()


def verify_chain(session: Session, *, trusted_public_key_der: bytes | None) -> ChainReport:
    """Walk the chain and report the first entry changed, removed or reordered.

    With ``trusted_public_key_der`` every checkpoint's signature is checked against the service's
    key (never against the key stored beside it, which a forger could replace) and its head must
    still be in the chain: that finds a chain recomputed after a change, and a truncated tail.
    """
    repo = AuditChainRepository(session)
    known = repo.hashes()
    prev_hash, prev_id, count = GENESIS_HASH, None, 0
    problem: ChainProblem | None = None
    for event in repo.walk():
        count += 1
        recomputed = entry_hash(event.prev_hash, event_fields(event))
        if recomputed != event.entry_hash:
            problem = ChainProblem(ChainProblemKind.CHANGED, event.id, count, f"entry {event.id} was changed")
            break
        if event.prev_hash != prev_hash:
            if event.prev_hash in known or event.prev_hash == GENESIS_HASH:
                problem = ChainProblem(
                    ChainProblemKind.REORDERED,
                    event.id,
                    count,
                    f"entry {event.id} is out of place: it follows entry {known.get(event.prev_hash, 'genesis')}",
                )
            elif prev_id is not None and event.id == prev_id + 1:
                # Consecutive ids and a self-consistent previous entry: the previous entry was
                # rewritten with a recomputed hash.
                problem = ChainProblem(
                    ChainProblemKind.CHANGED, prev_id, count - 1, f"entry {prev_id} was changed (hash recomputed)"
                )
            else:
                after = f"after entry {prev_id}" if prev_id is not None else "at the start"
                problem = ChainProblem(
                    ChainProblemKind.REMOVED, event.id, count, f"entries were removed {after}, before entry {event.id}"
                )
            break
        prev_hash, prev_id = event.entry_hash, event.id
    checkpoints = repo.checkpoints()
    if problem is None and trusted_public_key_der is not None:
        problem = _check_checkpoints(repo, checkpoints, trusted_public_key_der)
    return ChainReport(
        is_intact=problem is None,
        entries=count if problem is None else len(known),
        head_event_id=prev_id,
        head_hash=prev_hash,
        checkpoints=len(checkpoints),
        problem=problem,
    )


def _check_checkpoints(
    repo: AuditChainRepository, checkpoints: Any, public_key_der: bytes
) -> ChainProblem | None:
    for cp in checkpoints:
        message = _checkpoint_message(cp.at, cp.last_event_id, cp.head_hash, cp.event_count)
        if not crypto.verify_detached(public_key_der, cp.signature, message):
            return ChainProblem(
                ChainProblemKind.CHECKPOINT_INVALID, None, None, f"checkpoint {cp.id} has no valid signature", cp.id
            )
        event = repo.event(cp.last_event_id)
        if event is None:
            return ChainProblem(
                ChainProblemKind.REMOVED,
                cp.last_event_id,
                cp.event_count,
                f"entry {cp.last_event_id}, signed in checkpoint {cp.id}, was removed",
                cp.id,
            )
        if event.entry_hash != cp.head_hash:
            return ChainProblem(
                ChainProblemKind.CHANGED,
                cp.last_event_id,
                cp.event_count,
                f"the chain up to entry {cp.last_event_id} was rewritten since checkpoint {cp.id}",
                cp.id,
            )
        if repo.count_up_to(cp.last_event_id) != cp.event_count:
            return ChainProblem(
                ChainProblemKind.REMOVED,
                cp.last_event_id,
                cp.event_count,
                f"checkpoint {cp.id} counted {cp.event_count} entries up to {cp.last_event_id}",
                cp.id,
            )
    return None


def ensure_audit_key(ctx: ServiceContext) -> None:
    """Create the service's audit signing key (once) in the key store under CERTSVC_HOME."""
    if not ctx.keys.exists(AUDIT_KEY_REF):
        ctx.keys.put(AUDIT_KEY_REF, crypto.generate_private_key_pem(crypto.KeyAlgorithm.ECDSA_P256, ctx.passphrase()))


class AuditService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def _key(self) -> crypto.SealKey:
        # Made by `certsvc init` (ensure_audit_key); a request only loads it.
        return crypto.SealKey.from_pem(self.ctx.keys.get(AUDIT_KEY_REF), self.ctx.passphrase())

    def public_key_der(self) -> bytes:
        """The service's audit public key (SubjectPublicKeyInfo DER).

        Raises:
            KeyUnavailableError: the key cannot be loaded.
        """
        with self._key() as key:
            return key.public_key_spki_der()

    def checkpoint(self) -> CheckpointInfo | None:
        """Sign the current chain head now. None when the chain is empty.

        Raises:
            KeyUnavailableError: the audit key cannot be loaded.
        """
        with self._key() as key, self.ctx.database.transaction() as session:
            return _write_checkpoint(session, key, at=self.ctx.clock.now())

    def is_checkpoint_due(self, session: Session) -> bool:
        """At least N entries were appended since the last checkpoint (a read: no lock needed)."""
        head = AuditRepository(session).head()
        if head is None:
            return False
        last = AuditChainRepository(session).last_checkpoint()
        return head.id - (last.last_event_id if last else 0) >= self.ctx.settings.audit_checkpoint_every

    def checkpoint_if_due(self, session: Session) -> CheckpointInfo | None:
        """Inside the caller's transaction: sign the head when N entries passed since the last checkpoint.

        Checked at the start of each authenticated request and CLI command, so a checkpoint may
        cover a few more than N entries; it always covers the head it signs.
        """
        if not self.is_checkpoint_due(session):
            return None
        try:
            key = self._key()
        except KeyUnavailableError:
            return None  # no key yet (not initialised): the next call tries again
        with key:
            return _write_checkpoint(session, key, at=self.ctx.clock.now())

    def verify(self) -> ChainReport:
        """Walk the whole chain and check every checkpoint.

        Raises:
            KeyUnavailableError: the audit key cannot be loaded.
        """
        public = self.public_key_der()
        with self.ctx.database.read() as session:
            return verify_chain(session, trusted_public_key_der=public)

    def export(
        self, *, start: datetime | None, end: datetime | None, actor: Principal | None, request_id: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Events with ``start <= at < end`` as JSON-ready dicts (the export itself is audited)."""
        with self.ctx.database.transaction() as session:
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=actor,
                action="audit.export",
                target="audit",
                request_id=request_id,
                details={"from": start.isoformat() if start else None, "to": end.isoformat() if end else None},
            )
        with self.ctx.database.read() as session:
            for event in AuditChainRepository(session).between(start, end):
                yield {"id": event.id, **event_fields(event), "prev_hash": event.prev_hash, "entry_hash": event.entry_hash}


def _write_checkpoint(session: Session, key: crypto.SealKey, *, at: datetime) -> CheckpointInfo | None:
    repo = AuditRepository(session)
    repo.lock_chain()
    head = repo.head()
    if head is None:
        return None
    chain = AuditChainRepository(session)
    count = chain.count_up_to(head.id)
    message = _checkpoint_message(at, head.id, head.entry_hash, count)
    cp = chain.add_checkpoint(
        AuditCheckpoint(
            at=at,
            last_event_id=head.id,
            head_hash=head.entry_hash,
            event_count=count,
            algorithm=key.algorithm.value,
            public_key_der=key.public_key_spki_der(),
            signature=key.sign(message),
        )
    )
    return CheckpointInfo(cp.id, at, head.id, head.entry_hash, count)
