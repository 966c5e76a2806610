"""Re-signing one licence as a new version with another seal (the per-item work of a job).

The stored unsigned render of the current version is sealed again, so the page and its GB/T
36904 identifier stay the same and only the registry revision grows; the new file carries one
signature, the new seal's, and is stored as the shared render plus the seal's increment
(``storage/blobs.py``). A claimed chunk's files are flushed together, then the new versions,
the licences' ``current_version`` and the items' outcomes are written in ONE transaction per
chunk, each guarded by the revision its work started from and by the chunk's claim: a crash
before it leaves nothing, a crash after it leaves finished items, so a resumed job makes
exactly one new version per licence.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from certsvc.config import Settings
from certsvc.domain.identifiers import HolderIdType
from certsvc.domain.licence import Issuer, LicenceRecord
from certsvc.domain.status import LicenceStatus
from certsvc.errors import CertsvcError, NotFoundError
from certsvc.jobs.api import ItemOutcome, WorkItem, record_outcome
from certsvc.services.audit import append_audit_event
from certsvc.services.bilingual import licence_name_mn
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.ofd_versions import record_ofd, stored_ofd
from certsvc.services.pipeline import ItemPipeline, pipeline_depth
from certsvc.services.principals import Principal, Role
from certsvc.services.producer import (
    LicenceProducer,
    ProducedVersion,
    SealSnapshot,
    StoredRender,
    VersionSpec,
    box_from_json,
)
from certsvc.services.upstream import record_change
from certsvc.storage.database import Database
from certsvc.storage.orm import Certificate
from certsvc.storage.repositories import SealRepository
from certsvc.storage.repositories_batch import (
    ResignRow,
    bump_current_version,
    insert_version,
    resign_rows,
)

__all__ = ["SKIP_STATUSES", "ResignHandler", "build_resign_handler"]

_log = logging.getLogger("certsvc.batch")

# Revoked and cancelled licences are history: sealing them again would publish a fresh file
# of a licence that no longer holds. Suspended ones are re-signed (they may be restored).
SKIP_STATUSES = frozenset({LicenceStatus.REVOKED.value, LicenceStatus.CANCELLED.value})


class _ClaimLost(Exception):
    """The item was handed to another worker meanwhile: roll back, record nothing."""


@dataclass(frozen=True, slots=True)
class _Current:
    certificate_id: int
    base_version: int
    identifier: str  # the current version's
    licence_identifier: str  # the licence's (certificates.identifier)
    template: str
    record: LicenceRecord
    issued_on: date  # the date the current version's page prints
    stored: StoredRender


@dataclass(frozen=True, slots=True)
class _Skip:
    reason: str  # revoked | cancelled | already_on_seal | not_on_from_seal | missing
    identifier: str
    version: int


class ResignHandler:
    """Item handler of re-sign jobs; one per worker process (or per in-thread run)."""

    def __init__(self, ctx: ServiceContext, *, job_id: int, params: Mapping[str, Any], owns_context: bool) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.to_seal_id = int(params["to_seal_id"])
        self.from_seal_id = params.get("from_seal_id")
        self.reason = str(params.get("reason") or "seal rollover")
        self.actor = Principal(
            client_id=int(params.get("actor_client_id") or 0),
            name=str(params.get("actor_name") or "batch")[:60],
            role=Role.OPERATOR,
            department_id=None,
            department_code=None,
            operator=str(params["actor_operator"])[:90] if params.get("actor_operator") else None,
        )
        self._owns_context = owns_context
        self._seal: SealSnapshot | None = None
        self._prepared: dict[int, _Current | _Skip] = {}
        self._chunk: list[WorkItem] = []  # the claimed chunk not yet handled (see ``handle``)
        self._chunk_outcomes: dict[int, ItemOutcome] = {}
        self._ahead: ItemPipeline[ProducedVersion] = ItemPipeline(pipeline_depth(ctx.settings))

    @property
    def database(self) -> Database:
        return self.ctx.database

    def close(self) -> None:
        self._ahead.close()
        if self._owns_context:
            self.ctx.database.dispose()

    def _to_seal(self) -> SealSnapshot:
        if self._seal is None:
            with self.ctx.database.transaction() as session:
                return self._to_seal_in(session)
        return self._seal

    def prepare(self, session: Session, items: list[WorkItem]) -> None:
        """Read what the claimed items need: one joined query per chunk, in a read-only
        transaction (see ``claim_items``); ``handle`` checks again under the write lock."""
        seal = self._to_seal_in(session)
        rows = resign_rows(session, (int(item.payload["certificate_id"]) for item in items))
        self._chunk = list(items)
        for item in items:
            certificate_id = int(item.payload["certificate_id"])
            state = self._state_of(session, rows.get(certificate_id), item.key, seal)
            self._prepared[item.id] = state
            if isinstance(state, _Current):
                # Sealed ahead (services/pipeline.py): the chunk's TSA round trips overlap.
                self._ahead.start(item.id, functools.partial(self._produce, state, seal))

    def _read(self, session: Session, certificate_id: int, key: str, seal: SealSnapshot) -> _Current | _Skip:
        return self._state_of(session, resign_rows(session, [certificate_id]).get(certificate_id), key, seal)

    def _state_of(self, session: Session, row: ResignRow | None, key: str, seal: SealSnapshot) -> _Current | _Skip:
        if row is None:
            return _Skip("missing", key, 0)
        if row.status in SKIP_STATUSES:
            return _Skip(row.status, row.identifier, row.current_version)
        if row.seal_id == seal.id:
            return _Skip("already_on_seal", row.identifier, row.current_version)
        if self.from_seal_id is not None and row.seal_id != int(self.from_seal_id):
            return _Skip("not_on_from_seal", row.identifier, row.current_version)
        return _Current(
            certificate_id=row.certificate_id,
            base_version=row.current_version,
            identifier=row.version_identifier,
            licence_identifier=row.identifier,
            template=row.template,
            record=LicenceRecord(
                kind=self.ctx.templates.get(row.template).kind,
                holder_name=row.holder_name,
                holder_id_type=HolderIdType(row.holder_id_type),
                holder_id=row.holder_id,
                valid_from=row.valid_from,
                valid_until=row.valid_until,
                issuer=Issuer(
                    name=row.department_name,
                    code=row.department_code,
                    area_code=row.department_area_code,
                    name_mn=licence_name_mn(is_bilingual=row.department_is_bilingual, name_mn=row.department_name_mn),
                ),
                fields=row.data,
            ),
            issued_on=row.version_issued_at.date(),
            stored=StoredRender(
                unsigned_sha256=row.unsigned_sha256,
                print_sha256=row.print_sha256,
                seal_box=box_from_json(row.seal_box),
                seal_image_sha256=row.seal_image_sha256,
                ofd=stored_ofd(session, row.certificate_id, row.current_version),
            ),
        )

    def _to_seal_in(self, session: Session) -> SealSnapshot:
        if self._seal is None:
            seal = SealRepository(session).by_id(self.to_seal_id)
            if seal is None:
                raise NotFoundError(f"no seal {self.to_seal_id}")
            self._seal = SealSnapshot.of(seal)
        return self._seal

    def _produce(self, current: _Current, seal: SealSnapshot) -> ProducedVersion:
        # The stored render is sealed again, so the page and its identifier stay the same.
        return LicenceProducer(self.ctx).produce(
            VersionSpec(
                template=self.ctx.templates.get(current.template),
                record=current.record,
                identifier=current.identifier,
                issued_on=current.issued_on,
                seal=seal,
                signed_at=self.ctx.clock.now(),
                reason=f"电子证照重新签章 / licence re-sealed: {self.reason}"[:200],
                reuse=current.stored,
                is_synced=False,  # flushed with its chunk's others before it is recorded
            )
        )

    def handle(self, item: WorkItem) -> ItemOutcome:
        """Re-sign the licence named by the item.

        Items of a chunk claimed with ``prepare`` are done together on the chunk's first
        ``handle``: every file is sealed and written, their increments flushed at once, then
        every outcome recorded in one transaction (group commit); the other items' ``handle``
        return their recorded outcome.

        A licence that changed while it was being sealed fails its item (``licence_changed``).

        Raises:
            NotFoundError: the licence or the seal is gone.
            KeyUnavailableError, SigningError: the new seal could not be applied.
        """
        if item.id in self._chunk_outcomes:
            return self._chunk_outcomes.pop(item.id)
        if self._chunk and self._chunk[0].id == item.id:
            chunk, self._chunk = self._chunk, []
            self._handle_chunk(chunk)
            return self._chunk_outcomes.pop(item.id)
        state = self._prepared.pop(item.id, None)
        if state is None:  # run without the claim-time read (another engine)
            with self.ctx.database.read() as session:
                state = self._read(session, int(item.payload["certificate_id"]), item.key, self._to_seal_in(session))
        if isinstance(state, _Skip):
            if state.reason == "missing":
                raise NotFoundError(f"licence {item.key} no longer exists")
            return ItemOutcome.skipped(state.reason, {"identifier": state.identifier, "version": state.version})
        produced = self._result(item, state)
        self.ctx.blobs.sync([produced.signed_sha256])
        try:
            with self.ctx.database.transaction() as session:
                outcome = self._record(session, item, state, produced, now=self.ctx.clock.now())
        except _ClaimLost:
            return self._claim_lost(item)
        return outcome

    def _result(self, item: WorkItem, current: _Current) -> ProducedVersion:
        # The slow part runs outside any transaction (see docs/architecture.md, Transactions),
        # started ahead by ``prepare`` when the worker pipelines its items.
        seal = self._to_seal()
        return self._ahead.result(item.id, lambda: self._produce(current, seal))

    def _handle_chunk(self, chunk: list[WorkItem]) -> None:
        """Seal every item of a claimed chunk, flush their files at once, record them in one
        transaction. A failing item fails alone; a lost claim discards the whole chunk."""
        ready: list[tuple[WorkItem, _Current, ProducedVersion]] = []
        settled: list[tuple[WorkItem, ItemOutcome]] = []
        for item in chunk:
            state = self._prepared.pop(item.id, None)
            if state is None:  # handled on its own already
                continue
            if isinstance(state, _Skip):
                outcome = (
                    ItemOutcome.failed("not_found", f"licence {item.key} no longer exists", is_recorded=True)
                    if state.reason == "missing"
                    else ItemOutcome.skipped(
                        state.reason, {"identifier": state.identifier, "version": state.version}, is_recorded=True
                    )
                )
                settled.append((item, outcome))
                continue
            try:
                ready.append((item, state, self._result(item, state)))
            except CertsvcError as exc:
                settled.append((item, ItemOutcome.failed(exc.code, exc.message, is_recorded=True)))
            except Exception as exc:  # as jobs.api.process_item: the log gets the traceback
                _log.exception("batch job %s item %s failed unexpectedly", self.job_id, item.id)
                settled.append(
                    (item, ItemOutcome.failed("internal_error", f"unexpected error ({type(exc).__name__})", is_recorded=True))
                )
        # Durable before anything names them: an outcome is recorded only after its bytes.
        self.ctx.blobs.sync([produced.signed_sha256 for _, _, produced in ready])
        outcomes: dict[int, ItemOutcome] = {}
        now = self.ctx.clock.now()
        try:
            with self.ctx.database.transaction() as session:
                for item, current, produced in ready:
                    outcomes[item.id] = self._record(session, item, current, produced, now=now)
                for item, outcome in settled:
                    if not record_outcome(session, item, outcome, now=now):
                        raise _ClaimLost
                    outcomes[item.id] = outcome
        except _ClaimLost:
            outcomes = {item.id: self._claim_lost(item) for item in chunk}
        self._chunk_outcomes.update(outcomes)

    def _claim_lost(self, item: WorkItem) -> ItemOutcome:
        # Another worker owns the item now; its outcome stands, ours was rolled back.
        _log.warning("batch job %s item %s: claim lost, result discarded", self.job_id, item.id)
        return ItemOutcome.skipped("claim_lost", is_recorded=True)

    def _record(
        self, session: Session, item: WorkItem, current: _Current, produced: ProducedVersion, *, now: datetime
    ) -> ItemOutcome:
        """Write the new version and the item's outcome in ``session``; ``_ClaimLost`` if the
        item is no longer ours (the caller rolls back). A licence that changed meanwhile gets
        a failed outcome (``licence_changed``), one revoked or cancelled meanwhile a skip."""
        new_version = current.base_version + 1
        # The guard: the licence is still at the version the work started from and not revoked
        # or cancelled meanwhile (one UPDATE; it also moves current_version).
        if bump_current_version(session, current.certificate_id, from_version=current.base_version, skip_statuses=SKIP_STATUSES):
            insert_version(
                session,
                {
                    "certificate_id": current.certificate_id,
                    "version": new_version,
                    "identifier": current.identifier,
                    "reason": f"resign (batch {self.job_id}): {self.reason}"[:200],
                    **produced.version_columns(),
                },
            )
            record_ofd(session, certificate_id=current.certificate_id, version=new_version, ofd=produced.ofd)
            record_change(session, self.ctx.settings, certificate_id=current.certificate_id, event="resign",
                          version=new_version, status_after=None, now=now)  # fmt: skip
            append_audit_event(
                session,
                at=now,
                actor=self.actor,
                action="certificate.resign",
                target=current.licence_identifier,
                request_id=f"batch-{self.job_id}",
                details={"version": new_version, **produced.audit_details},
            )
            outcome = ItemOutcome.done(
                {"identifier": current.licence_identifier, "version": new_version, "sha256": produced.signed_sha256},
                is_recorded=True,
            )
        else:
            cert = session.get(Certificate, current.certificate_id)
            if cert is not None and cert.status in SKIP_STATUSES:
                # Revoked or cancelled while it was being sealed: the new file is not published.
                outcome = ItemOutcome.skipped(cert.status, {"identifier": cert.identifier}, is_recorded=True)
            else:
                outcome = ItemOutcome.failed(
                    "licence_changed", "the licence changed while it was being re-sealed; run the job again", is_recorded=True
                )
        if not record_outcome(session, item, outcome, now=now):
            raise _ClaimLost
        return outcome


def build_resign_handler(config: Mapping[str, Any]) -> ResignHandler:
    """Task factory (``TaskSpec``): a handler with its own context, built in a worker process."""
    settings = config["settings"]
    assert isinstance(settings, Settings)
    ctx = build_context(settings, migrate=False)
    return ResignHandler(ctx, job_id=int(config["job_id"]), params=config["params"], owns_context=True)
