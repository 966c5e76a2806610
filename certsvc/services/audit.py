"""The audit log: an append-only hash chain of everything that matters, anchored by signed checkpoints.

Each entry carries the SHA-256 of the previous one, so changing, removing or reordering an entry
breaks the chain where it happened. Someone with write access to the database could recompute
the whole chain after a change; the checkpoints stop that: every N entries, at the first request
after a minute with new entries, and on demand, the chain head is signed with the service's own
key, which lives in the key store, not the database. Checkpoints are numbered and each names
the hash of the one before, so deleting one leaves a gap; each is also appended, with the hashes
of the entries it covers, to a file outside the database (and optionally sent to a witness URL,
:mod:`certsvc.services.audit_witness`), so verification names the first entry that differs from
what was witnessed. What this does not prove is in docs/verification.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import event as orm_events
from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.errors import KeyUnavailableError
from certsvc.services.audit_witness import (
    WitnessRecord,
    append_witness,
    read_witness,
    send_to_witness,
)
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
    "checkpoint_hash",
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
    CHECKPOINT_REMOVED = "checkpoint_removed"  # a numbered or witnessed checkpoint is missing


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
    sequence: int | None = None


def _checkpoint_message(
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


def _stored_message(cp: AuditCheckpoint) -> bytes:
    return _checkpoint_message(
        cp.at, cp.last_event_id, cp.head_hash, cp.event_count, sequence=cp.sequence, prev_checkpoint_hash=cp.prev_checkpoint_hash
    )


def checkpoint_hash(message: bytes) -> str:
    """What the next checkpoint names as its predecessor."""
    return hashlib.sha256(message).hexdigest()


def verify_chain(
    session: Session, *, trusted_public_key_der: bytes | None, witness: Sequence[WitnessRecord] = ()
) -> ChainReport:
    """Walk the chain and report the first entry changed, removed or reordered.

    ``witness`` (the checkpoints kept outside the database) gives each witnessed entry's hash:
    an entry that differs from it, or is missing, is named exactly, even when the chain was
    recomputed and checkpoint rows were deleted. With ``trusted_public_key_der`` every
    checkpoint's signature is checked against the service's key (never against the key stored
    beside it, which a forger could replace), the checkpoints must be numbered without gaps and
    each must name its predecessor's hash, and every witnessed checkpoint must be in the database.
    """
    repo = AuditChainRepository(session)
    known = repo.hashes()
    witnessed = {event_id: entry for record in witness for event_id, entry in record.entries}
    pending = sorted(witnessed)
    next_witnessed = 0
    prev_hash, prev_id, count = GENESIS_HASH, None, 0
    problem: ChainProblem | None = None
    for event in repo.walk():
        count += 1
        if next_witnessed < len(pending) and pending[next_witnessed] < event.id:
            missing = pending[next_witnessed]
            problem = ChainProblem(
                ChainProblemKind.REMOVED, missing, count, f"entry {missing} was removed (it was witnessed outside the database)"
            )
            break
        if next_witnessed < len(pending) and pending[next_witnessed] == event.id:
            next_witnessed += 1
            if witnessed[event.id] != event.entry_hash or entry_hash(event.prev_hash, event_fields(event)) != event.entry_hash:
                problem = ChainProblem(
                    ChainProblemKind.CHANGED, event.id, count, f"entry {event.id} differs from what was witnessed"
                )
                break
        problem = _link_problem(event, prev_hash, prev_id, count, known)
        if problem is not None:
            break
        prev_hash, prev_id = event.entry_hash, event.id
    if problem is None and next_witnessed < len(pending):
        missing = pending[next_witnessed]
        problem = ChainProblem(
            ChainProblemKind.REMOVED, missing, count + 1, f"entry {missing} and later ones were removed (witnessed outside the database)"
        )
    checkpoints = repo.checkpoints()
    if problem is None and trusted_public_key_der is not None:
        problem = _check_checkpoints(repo, checkpoints, trusted_public_key_der, count=count, head_id=prev_id) or _check_witness(
            checkpoints, witness, trusted_public_key_der
        )
    return ChainReport(
        is_intact=problem is None,
        entries=count if problem is None else len(known),
        head_event_id=prev_id,
        head_hash=prev_hash,
        checkpoints=len(checkpoints),
        problem=problem,
    )


def _link_problem(event: AuditEvent, prev_hash: str, prev_id: int | None, count: int, known: dict[str, int]) -> ChainProblem | None:
    recomputed = entry_hash(event.prev_hash, event_fields(event))
    if recomputed != event.entry_hash:
        return ChainProblem(ChainProblemKind.CHANGED, event.id, count, f"entry {event.id} was changed")
    if event.prev_hash == prev_hash:
        return None
    if event.prev_hash in known or event.prev_hash == GENESIS_HASH:
        return ChainProblem(
            ChainProblemKind.REORDERED,
            event.id,
            count,
            f"entry {event.id} is out of place: it follows entry {known.get(event.prev_hash, 'genesis')}",
        )
    if prev_id is not None and event.id == prev_id + 1:
        # Consecutive ids and a self-consistent previous entry: the previous entry was
        # rewritten with a recomputed hash.
        return ChainProblem(ChainProblemKind.CHANGED, prev_id, count - 1, f"entry {prev_id} was changed (hash recomputed)")
    after = f"after entry {prev_id}" if prev_id is not None else "at the start"
    return ChainProblem(ChainProblemKind.REMOVED, event.id, count, f"entries were removed {after}, before entry {event.id}")


def _check_checkpoints(
    repo: AuditChainRepository, checkpoints: Sequence[AuditCheckpoint], public_key_der: bytes, *, count: int, head_id: int | None
) -> ChainProblem | None:
    expected_sequence, prev = 1, GENESIS_HASH
    for cp in checkpoints:
        message = _stored_message(cp)
        if not crypto.verify_detached(public_key_der, cp.signature, message):
            return ChainProblem(
                ChainProblemKind.CHECKPOINT_INVALID, None, None, f"checkpoint {cp.id} has no valid signature", cp.id
            )
        if cp.sequence is not None:
            if cp.sequence != expected_sequence:
                return ChainProblem(
                    ChainProblemKind.CHECKPOINT_REMOVED,
                    None,
                    None,
                    f"checkpoint {expected_sequence} is missing (the next one is {cp.sequence})",
                    cp.id,
                )
            if cp.prev_checkpoint_hash != prev:
                return ChainProblem(
                    ChainProblemKind.CHECKPOINT_REMOVED,
                    None,
                    None,
                    f"checkpoint {cp.sequence} does not follow the checkpoint before it",
                    cp.id,
                )
            expected_sequence, prev = cp.sequence + 1, checkpoint_hash(message)
        event = repo.event(cp.last_event_id)
        if event is None and (head_id is None or cp.last_event_id > head_id):
            return ChainProblem(
                ChainProblemKind.REMOVED,
                (head_id or 0) + 1,
                count + 1,
                f"the entries after entry {head_id} were removed: checkpoint {cp.sequence or cp.id} covered up to entry {cp.last_event_id}",
                cp.id,
            )
        if event is None:
            return ChainProblem(
                ChainProblemKind.REMOVED, cp.last_event_id, cp.event_count, f"entry {cp.last_event_id}, signed in checkpoint {cp.id}, was removed", cp.id
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


def _check_witness(
    checkpoints: Sequence[AuditCheckpoint], witness: Sequence[WitnessRecord], public_key_der: bytes
) -> ChainProblem | None:
    """Every checkpoint witnessed outside the database is in it, unchanged."""
    stored = {cp.sequence: cp for cp in checkpoints if cp.sequence is not None}
    for record in witness:
        if not crypto.verify_detached(public_key_der, record.signature, record.message):
            return ChainProblem(
                ChainProblemKind.CHECKPOINT_INVALID, None, None, f"witnessed checkpoint {record.sequence} has no valid signature"
            )
        cp = stored.get(record.sequence)
        if cp is None:
            return ChainProblem(
                ChainProblemKind.CHECKPOINT_REMOVED,
                None,
                None,
                f"checkpoint {record.sequence}, witnessed outside the database, is missing from it",
            )
        if _stored_message(cp) != record.message:
            return ChainProblem(
                ChainProblemKind.CHECKPOINT_INVALID,
                None,
                None,
                f"checkpoint {record.sequence} differs from what was witnessed",
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
            return self._write(session, key)

    def is_checkpoint_due(self, session: Session) -> bool:
        """N entries were appended since the last checkpoint, or the oldest entry no checkpoint
        covers is older than ``audit_checkpoint_seconds`` (a read: no lock needed)."""
        chain = AuditChainRepository(session)
        head = AuditRepository(session).head()
        if head is None:
            return False
        last = chain.last_checkpoint()
        covered = last.last_event_id if last else 0
        if head.id <= covered:
            return False
        if head.id - covered >= self.ctx.settings.audit_checkpoint_every:
            return True
        oldest = chain.first_after(covered)
        age = self.ctx.clock.now() - oldest.at if oldest is not None else timedelta(0)
        return age >= timedelta(seconds=self.ctx.settings.audit_checkpoint_seconds)

    def checkpoint_if_due(self, session: Session) -> CheckpointInfo | None:
        """Inside the caller's transaction: sign the head when ``is_checkpoint_due``.

        Checked at the start of each authenticated request and CLI command, so a checkpoint may
        cover a few more than N entries; it always covers the head it signs. That is what makes
        checkpoints come at least every minute of activity.
        """
        if not self.is_checkpoint_due(session):
            return None
        try:
            key = self._key()
        except KeyUnavailableError:
            return None  # no key yet (not initialised): the next call tries again
        with key:
            return self._write(session, key)

    def _write(self, session: Session, key: crypto.SealKey) -> CheckpointInfo | None:
        written = _write_checkpoint(session, key, at=self.ctx.clock.now())
        if written is None:
            return None
        info, record = written
        home, url = self.ctx.settings.resolved_home, self.ctx.settings.audit_witness_url

        def witness(_: Session) -> None:
            # After the commit: a crash before this line leaves the file behind the database,
            # which verification tolerates; never a witnessed checkpoint the database lacks.
            append_witness(home, record)
            if url:
                send_to_witness(url, record)

        orm_events.listen(session, "after_commit", witness, once=True)
        return info

    def verify(self) -> ChainReport:
        """Walk the whole chain and check every checkpoint, in the database and witnessed.

        Raises:
            KeyUnavailableError: the audit key cannot be loaded.
        """
        public = self.public_key_der()
        witness = list(read_witness(self.ctx.settings.resolved_home))
        with self.ctx.database.read() as session:
            return verify_chain(session, trusted_public_key_der=public, witness=witness)

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


def _write_checkpoint(
    session: Session, key: crypto.SealKey, *, at: datetime
) -> tuple[CheckpointInfo, WitnessRecord] | None:
    repo = AuditRepository(session)
    repo.lock_chain()
    head = repo.head()
    if head is None:
        return None
    chain = AuditChainRepository(session)
    last = chain.last_numbered_checkpoint()
    sequence = (last.sequence or 0) + 1 if last is not None else 1
    prev = checkpoint_hash(_stored_message(last)) if last is not None else GENESIS_HASH
    count = chain.count_up_to(head.id)
    message = _checkpoint_message(at, head.id, head.entry_hash, count, sequence=sequence, prev_checkpoint_hash=prev)
    signature = key.sign(message)
    cp = chain.add_checkpoint(
        AuditCheckpoint(
            at=at,
            last_event_id=head.id,
            head_hash=head.entry_hash,
            event_count=count,
            algorithm=key.algorithm.value,
            public_key_der=key.public_key_spki_der(),
            signature=signature,
            sequence=sequence,
            prev_checkpoint_hash=prev,
        )
    )
    previous = chain.last_checkpoint_before(cp.id)
    entries = tuple(chain.entry_hashes_after(previous.last_event_id if previous else 0, up_to=head.id))
    return CheckpointInfo(cp.id, at, head.id, head.entry_hash, count, sequence), WitnessRecord(sequence, message, signature, entries)
