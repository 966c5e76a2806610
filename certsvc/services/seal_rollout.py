"""Seals for every department (电子印章应发尽发): bulk provisioning from a departments file.

``plan`` is the dry run: the file checked (``department_file``) and what would be made. ``create_job``
stores a durable job on the batch engine (``jobs/``), one item per department; ``run`` runs or
resumes it. Each item is one transaction: the department (registered if new), its place (level
and parent), and each seal kind it lacks — key, certificate from the development seal CA, drawn
seal (bilingual where the department is and has its Mongolian name) and, for SM2, GB/T 38540 seal
data (``provisioning.add_seal``) — with the item's outcome. A department that already has a
usable seal of a kind gets no second one, so running the file again makes nothing twice; running
the same file while its job is unfinished resumes that job.

The per-item work is engine-agnostic: the engine builds ``SealRolloutHandler`` from a picklable
``TaskSpec`` in whatever process runs the item.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from certsvc.config import Settings
from certsvc.crypto import api as crypto
from certsvc.errors import NotFoundError
from certsvc.jobs.api import (
    ItemHandler,
    ItemOutcome,
    JobEngine,
    JobProgress,
    JobState,
    ProgressCallback,
    TaskSpec,
    WorkItem,
    record_outcome,
)
from certsvc.jobs.local import LocalPoolEngine
from certsvc.services.audit import append_audit_event
from certsvc.services.bilingual import default_bilingual
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.department_file import DepartmentLevel, DepartmentRow, read_department_file
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.provisioning import add_department, add_seal
from certsvc.storage.database import Database
from certsvc.storage.orm import Department, Seal
from certsvc.storage.orm_batch import BatchJob
from certsvc.storage.repositories import DepartmentRepository
from certsvc.storage.repositories_batch import BatchRepository
from certsvc.storage.repositories_region import PlaceRepository, RegionReadRepository

__all__ = [
    "ROLLOUT_KIND",
    "RolloutJob",
    "RolloutPlan",
    "SealRolloutHandler",
    "SealRolloutService",
    "build_seal_rollout_handler",
]

_log = logging.getLogger("certsvc.seal_rollout")
ROLLOUT_KIND = "seal-rollout"
_FACTORY = "certsvc.services.seal_rollout:build_seal_rollout_handler"
_VALIDITY_DAYS = 1825  # five years, the development CA's usual seal term


@dataclass(slots=True)
class RolloutPlan:
    source: str
    departments: int = 0
    departments_new: int = 0
    seals_to_make: int = 0
    seals_present: int = 0  # kinds a department already holds a usable seal of
    # Bilingual departments (内蒙古) the file gives no Mongolian name: their seals are drawn in
    # Chinese only until an operator sets an attested name (certsvc department update --name-mn).
    without_mongolian_name: int = 0
    by_level: dict[str, int] = field(default_factory=dict)
    rows: list[dict[str, Any]] = field(
        default_factory=list
    )  # per department: code, new, make, present


@dataclass(frozen=True, slots=True)
class RolloutJob:
    job_id: int
    is_existing: bool  # an unfinished job of the same file was found and is resumed
    total: int


def usable_seal_kinds(session: Session, department_id: int, *, at: datetime) -> set[str]:
    """Purposes the department holds an active seal of, valid at ``at`` and not compromised."""
    rows = session.scalars(
        select(Seal.purpose).where(
            Seal.department_id == department_id,
            Seal.status == "active",
            Seal.valid_from <= at,
            Seal.valid_until > at,
            Seal.compromised_at.is_(None),
        )
    ).all()
    return set(rows)


class SealRolloutService:
    """Every method needs the operator role."""

    def __init__(self, ctx: ServiceContext, *, engine: JobEngine | None = None) -> None:
        self.ctx = ctx
        self.engine = engine or LocalPoolEngine(ctx.database, clock=ctx.clock)

    def _read(self, path: Path, filename: str | None) -> list[DepartmentRow]:
        with self.ctx.database.read() as session:
            known: dict[str, DepartmentLevel | None] = {}
            for department, place in RegionReadRepository(session).departments_with_places():
                known[department.code] = DepartmentLevel(place.level) if place is not None else None
        return read_department_file(path, known_levels=known, filename=filename)

    def plan(self, path: Path, *, principal: Principal, filename: str | None = None) -> RolloutPlan:
        """The dry run: check the file and say what a job would make; nothing is stored.

        Raises:
            PermissionDeniedError: not an operator.
            BadRequestError: not a readable CSV or XLSX file.
            ValidationFailedError: bad rows (each problem names its row and column).
        """
        require_role(principal, Role.OPERATOR)
        rows = self._read(path, filename)
        plan = RolloutPlan(source=filename or path.name, departments=len(rows))
        now = self.ctx.clock.now()
        with self.ctx.database.read() as session:
            repo = DepartmentRepository(session)
            for r in rows:
                department = repo.by_code(r.code)
                present = (
                    usable_seal_kinds(session, department.id, at=now)
                    if department is not None
                    else set()
                )
                make = [k for k in r.seal_kinds if k not in present]
                plan.departments_new += department is None
                is_bilingual = (
                    department.is_bilingual
                    if department is not None
                    else default_bilingual(r.area_code)
                )
                has_name = r.name_mn is not None or (
                    department is not None and department.name_mn is not None
                )
                plan.without_mongolian_name += is_bilingual and not has_name
                plan.seals_to_make += len(make)
                plan.seals_present += len(r.seal_kinds) - len(make)
                plan.by_level[r.level.value] = plan.by_level.get(r.level.value, 0) + 1
                plan.rows.append(
                    {
                        "row": r.row,
                        "code": r.code,
                        "name": r.name,
                        "is_new": department is None,
                        "make": make,
                    }
                )
        return plan

    def create_job(
        self, path: Path, *, principal: Principal, filename: str | None = None
    ) -> RolloutJob:
        """Store the job (one item per department), or find the unfinished job of the same file.

        Raises:
            as ``plan``.
        """
        require_role(principal, Role.OPERATOR)
        data = path.read_bytes()
        fingerprint = hashlib.sha256(ROLLOUT_KIND.encode() + b"\0" + data).hexdigest()
        with self.ctx.database.read() as session:
            existing = BatchRepository(session).unfinished_by_fingerprint(fingerprint)
            if existing is not None:
                return RolloutJob(existing.id, True, existing.total)
        rows = self._read(path, filename)
        now = self.ctx.clock.now()
        with self.ctx.database.transaction() as session:
            repo = BatchRepository(session)
            job = repo.add_job(
                BatchJob(
                    kind=ROLLOUT_KIND,
                    state=JobState.PENDING.value,
                    params={
                        "source": (filename or path.name)[:200],
                        "actor_client_id": principal.client_id,
                        "actor_name": principal.name,
                        "validity_days": _VALIDITY_DAYS,
                    },
                    fingerprint=fingerprint,
                    created_by=principal.label,
                    created_by_client_id=principal.client_id,
                    created_at=now,
                    total=len(rows),
                    run_base_finished=0,
                )
            )
            repo.add_items(
                [
                    {
                        "job_id": job.id,
                        "seq": r.row,
                        "key": r.code,
                        "payload": r.payload(),
                        "state": "pending",
                        "attempts": 0,
                        "error_code": None,
                        "error_message": None,
                        "claim_token": None,
                        "claimed_at": None,
                        "finished_at": None,
                        "result": None,
                    }
                    for r in rows
                ]
            )
            append_audit_event(
                session,
                at=now,
                actor=principal,
                action="seal.rollout",
                target=f"batch:{job.id}",
                details={"source": job.params["source"], "departments": len(rows)},
            )
            return RolloutJob(job.id, False, len(rows))

    def run(
        self,
        job_id: int,
        *,
        principal: Principal,
        workers: int,
        on_progress: ProgressCallback | None = None,
    ) -> JobProgress:
        """Run or resume the job; ``workers=0`` runs in this thread with this context.

        Raises:
            PermissionDeniedError: not an operator.
            NotFoundError: no such job. ConflictError: finished, cancelled or running elsewhere.
        """
        require_role(principal, Role.OPERATOR)
        with self.ctx.database.read() as session:
            job = BatchRepository(session).job(job_id)
            params = dict(job.params) if job is not None and job.kind == ROLLOUT_KIND else None
        if params is None:
            raise NotFoundError(f"no seal rollout job {job_id}")
        task = TaskSpec(
            _FACTORY, {"settings": self.ctx.settings, "job_id": job_id, "params": params}
        )
        handler = (
            SealRolloutHandler(self.ctx, job_id=job_id, params=params, owns_context=False)
            if workers <= 0
            else None
        )
        return self.engine.run(
            job_id, task, workers=workers, on_progress=on_progress, handler=handler
        )


class _ClaimLost(Exception):
    pass


class SealRolloutHandler:
    """Item handler: one department and the seals it lacks, in one transaction with the outcome."""

    def __init__(
        self, ctx: ServiceContext, *, job_id: int, params: Mapping[str, Any], owns_context: bool
    ) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.validity_days = int(params.get("validity_days") or _VALIDITY_DAYS)
        self.actor = Principal(
            client_id=int(params.get("actor_client_id") or 0),
            name=f"{params.get('actor_name') or 'operator'} (batch {job_id})"[:100],
            role=Role.OPERATOR,
            department_id=None,
            department_code=None,
        )
        self._owns_context = owns_context

    @property
    def database(self) -> Database:
        return self.ctx.database

    def close(self) -> None:
        if self._owns_context:
            self.ctx.database.dispose()

    def handle(self, item: WorkItem) -> ItemOutcome:
        """Register the department if new, place it, make the seals it lacks.

        Raises:
            ValidationFailedError: a seal name the seal cannot show; BadRequestError,
                KeyUnavailableError: no development CA (production, or before ``certsvc init``).
        """
        row = DepartmentRow.of(item.seq, dict(item.payload))
        now = self.ctx.clock.now()
        try:
            with self.ctx.database.transaction() as session:
                department = DepartmentRepository(session).by_code(row.code)
                is_new = department is None
                if department is None:
                    department = add_department(
                        session,
                        code=row.code,
                        name=row.name,
                        area_code=row.area_code,
                        actor=self.actor,
                        now=now,
                        name_mn=row.name_mn,
                    )
                    is_named = row.name_mn is not None
                elif row.name_mn and department.name_mn is None:
                    department.name_mn = row.name_mn  # never overwrites a name an operator set
                    is_named = True
                else:
                    is_named = False
                if is_named:  # where the spelling is attested, kept with the change
                    append_audit_event(
                        session,
                        at=now,
                        actor=self.actor,
                        action="department.name_mn",
                        target=f"department:{department.code}",
                        details={"source": row.name_mn_source},
                    )
                PlaceRepository(session).put(
                    department.id, level=row.level.value, parent_code=row.parent
                )
                present = usable_seal_kinds(session, department.id, at=now)
                made: list[dict[str, Any]] = []
                for kind in row.seal_kinds:
                    if kind in present:
                        continue
                    seal = _make_seal(
                        self.ctx,
                        session,
                        department,
                        kind,
                        row.algorithm,
                        self.actor,
                        self.validity_days,
                    )
                    made.append({"seal_id": seal.id, "kind": kind})
                result = {
                    "department": row.code,
                    "is_new": is_new,
                    "made": made,
                    "present": [k for k in row.seal_kinds if k in present],
                }
                if department.name != row.name:
                    result["registered_name"] = department.name  # the file's name is not applied
                outcome = (
                    ItemOutcome.done(result, is_recorded=True)
                    if made or is_new
                    else ItemOutcome.skipped("already_provisioned", result, is_recorded=True)
                )
                if not record_outcome(session, item, outcome, now=now):
                    raise _ClaimLost
        except _ClaimLost:
            _log.warning(
                "seal rollout %s item %s: claim lost, result discarded", self.job_id, item.id
            )
            return ItemOutcome.skipped("claim_lost", is_recorded=True)
        return outcome


def _make_seal(
    ctx: ServiceContext,
    session: Session,
    department: Department,
    kind: str,
    algorithm: str,
    actor: Principal,
    days: int,
) -> Seal:
    return add_seal(
        ctx,
        session,
        department=department,
        name=kind,
        purpose=kind,
        algorithm=crypto.KeyAlgorithm(algorithm),
        actor=actor,
        validity_days=days,
    )


def build_seal_rollout_handler(config: Mapping[str, Any]) -> ItemHandler:
    """Task factory (``TaskSpec``): a handler with its own context, built in a worker process."""
    settings = config["settings"]
    assert isinstance(settings, Settings)
    ctx = build_context(settings, migrate=False)
    return SealRolloutHandler(
        ctx, job_id=int(config["job_id"]), params=config["params"], owns_context=True
    )
