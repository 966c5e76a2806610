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

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event as orm_events
from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.domain.paging import Page, PageRequest
from certsvc.errors import KeyUnavailableError
from certsvc.services.audit_records import (
    GENESIS_HASH,
    checkpoint_hash,
    checkpoint_message,
    entry_hash,
    event_fields,
    stored_checkpoint_message,
)
from certsvc.services.audit_verify import ChainProblem, ChainProblemKind, ChainReport, verify_chain
from certsvc.services.audit_witness import (
    WitnessRecord,
    append_witness,
    read_witness,
    send_to_witness,
)
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal
from certsvc.storage.orm_lifecycle import AuditCheckpoint
from certsvc.storage.repositories import AuditRepository
from certsvc.storage.repositories_lifecycle import AuditChainRepository

# The chain's records and its verification live beside this module; their names are
# re-exported so that callers import the audit log from one place.
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

AUDIT_KEY_REF = (
    "audit-signing"  # the service's own key (ECDSA P-256), never a department's seal key
)


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
    return repo.append(
        {**fields, "at": at, "prev_hash": prev, "entry_hash": entry_hash(prev, fields)}
    )


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    id: int
    at: datetime
    last_event_id: int
    head_hash: str
    event_count: int
    sequence: int | None = None


def ensure_audit_key(ctx: ServiceContext) -> None:
    """Create the service's audit signing key (once) in the key store under CERTSVC_HOME."""
    if not ctx.keys.exists(AUDIT_KEY_REF):
        ctx.keys.put(
            AUDIT_KEY_REF,
            crypto.generate_private_key_pem(
                crypto.KeyAlgorithm.ECDSA_P256, ctx.passphrase(), kdf=ctx.key_file_kdf
            ),
        )


class AuditService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def _key(self) -> crypto.SealKey:
        # Made by `certsvc init` (ensure_audit_key); a request only loads it.
        return self.ctx.open_key_file(AUDIT_KEY_REF)

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
        self,
        *,
        start: datetime | None,
        end: datetime | None,
        actor: Principal | None,
        page: PageRequest,
        request_id: str | None = None,
    ) -> Page[dict[str, Any]]:
        """One page of the events with ``start <= at < end``, oldest first, as JSON-ready dicts.

        The export is itself audited when it starts (the first page): auditing every page would
        add an event to the very list being read, and a reader one page behind would never end.
        """
        if page.after_id is not None:
            return self._export_page(start, end, page)
        with self.ctx.database.transaction() as session:
            append_audit_event(
                session,
                at=self.ctx.clock.now(),
                actor=actor,
                action="audit.export",
                target="audit",
                request_id=request_id,
                details={
                    "from": start.isoformat() if start else None,
                    "to": end.isoformat() if end else None,
                },
            )
        return self._export_page(start, end, page)

    def _export_page(
        self, start: datetime | None, end: datetime | None, page: PageRequest
    ) -> Page[dict[str, Any]]:
        with self.ctx.database.read() as session:
            return (
                AuditChainRepository(session)
                .between(start, end, page)
                .map(
                    lambda event: {
                        "id": event.id,
                        **event_fields(event),
                        "prev_hash": event.prev_hash,
                        "entry_hash": event.entry_hash,
                    }
                )
            )


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
    prev = checkpoint_hash(stored_checkpoint_message(last)) if last is not None else GENESIS_HASH
    count = chain.count_up_to(head.id)
    message = checkpoint_message(
        at, head.id, head.entry_hash, count, sequence=sequence, prev_checkpoint_hash=prev
    )
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
    entries = tuple(
        chain.entry_hashes_after(previous.last_event_id if previous else 0, up_to=head.id)
    )
    return CheckpointInfo(cp.id, at, head.id, head.entry_hash, count, sequence), WitnessRecord(
        sequence, message, signature, entries
    )
