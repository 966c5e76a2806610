"""Walking the audit chain: the first entry changed, removed or reordered, and the checkpoints.

See :mod:`certsvc.services.audit` for what the chain and its checkpoints are.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.services.audit_records import (
    GENESIS_HASH,
    checkpoint_hash,
    entry_hash,
    event_fields,
    stored_checkpoint_message,
)
from certsvc.services.audit_witness import WitnessRecord
from certsvc.storage.orm import AuditEvent
from certsvc.storage.orm_lifecycle import AuditCheckpoint
from certsvc.storage.repositories_lifecycle import AuditChainRepository

__all__ = ["ChainProblem", "ChainProblemKind", "ChainReport", "verify_chain"]


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
                ChainProblemKind.REMOVED,
                missing,
                count,
                f"entry {missing} was removed (it was witnessed outside the database)",
            )
            break
        if next_witnessed < len(pending) and pending[next_witnessed] == event.id:
            next_witnessed += 1
            if (
                witnessed[event.id] != event.entry_hash
                or entry_hash(event.prev_hash, event_fields(event)) != event.entry_hash
            ):
                problem = ChainProblem(
                    ChainProblemKind.CHANGED,
                    event.id,
                    count,
                    f"entry {event.id} differs from what was witnessed",
                )
                break
        problem = _link_problem(event, prev_hash, prev_id, count, known)
        if problem is not None:
            break
        prev_hash, prev_id = event.entry_hash, event.id
    if problem is None and next_witnessed < len(pending):
        missing = pending[next_witnessed]
        problem = ChainProblem(
            ChainProblemKind.REMOVED,
            missing,
            count + 1,
            f"entry {missing} and later ones were removed (witnessed outside the database)",
        )
    checkpoints = repo.checkpoints()
    if problem is None and trusted_public_key_der is not None:
        problem = _check_checkpoints(
            repo, checkpoints, trusted_public_key_der, count=count, head_id=prev_id
        ) or _check_witness(checkpoints, witness, trusted_public_key_der)
    return ChainReport(
        is_intact=problem is None,
        entries=count if problem is None else len(known),
        head_event_id=prev_id,
        head_hash=prev_hash,
        checkpoints=len(checkpoints),
        problem=problem,
    )


def _link_problem(
    event: AuditEvent, prev_hash: str, prev_id: int | None, count: int, known: dict[str, int]
) -> ChainProblem | None:
    recomputed = entry_hash(event.prev_hash, event_fields(event))
    if recomputed != event.entry_hash:
        return ChainProblem(
            ChainProblemKind.CHANGED, event.id, count, f"entry {event.id} was changed"
        )
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
        return ChainProblem(
            ChainProblemKind.CHANGED,
            prev_id,
            count - 1,
            f"entry {prev_id} was changed (hash recomputed)",
        )
    after = f"after entry {prev_id}" if prev_id is not None else "at the start"
    return ChainProblem(
        ChainProblemKind.REMOVED,
        event.id,
        count,
        f"entries were removed {after}, before entry {event.id}",
    )


def _check_checkpoints(
    repo: AuditChainRepository,
    checkpoints: Sequence[AuditCheckpoint],
    public_key_der: bytes,
    *,
    count: int,
    head_id: int | None,
) -> ChainProblem | None:
    expected_sequence, prev = 1, GENESIS_HASH
    for cp in checkpoints:
        message = stored_checkpoint_message(cp)
        if not crypto.verify_detached(public_key_der, cp.signature, message):
            return ChainProblem(
                ChainProblemKind.CHECKPOINT_INVALID,
                None,
                None,
                f"checkpoint {cp.id} has no valid signature",
                cp.id,
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


def _check_witness(
    checkpoints: Sequence[AuditCheckpoint], witness: Sequence[WitnessRecord], public_key_der: bytes
) -> ChainProblem | None:
    """Every checkpoint witnessed outside the database is in it, unchanged."""
    stored = {cp.sequence: cp for cp in checkpoints if cp.sequence is not None}
    for record in witness:
        if not crypto.verify_detached(public_key_der, record.signature, record.message):
            return ChainProblem(
                ChainProblemKind.CHECKPOINT_INVALID,
                None,
                None,
                f"witnessed checkpoint {record.sequence} has no valid signature",
            )
        cp = stored.get(record.sequence)
        if cp is None:
            return ChainProblem(
                ChainProblemKind.CHECKPOINT_REMOVED,
                None,
                None,
                f"checkpoint {record.sequence}, witnessed outside the database, is missing from it",
            )
        if stored_checkpoint_message(cp) != record.message:
            return ChainProblem(
                ChainProblemKind.CHECKPOINT_INVALID,
                None,
                None,
                f"checkpoint {record.sequence} differs from what was witnessed",
                cp.id,
            )
    return None
