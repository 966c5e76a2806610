"""Archival renewal (``certsvc ltv renew``): a newer document time-stamp before the last one ends.

A B-LTA licence is proven by its newest document time-stamp for as long as that time-stamp's
TSA certificate is valid and its digest algorithm is strong (docs/ltv.md). Before either ends,
a new revision is appended to the licence's newest file: a DSS with the validation data current
now (chain, the seal CA's CRL, the TSA certificates) and a document time-stamp over everything,
from the TSA configured now. The renewed file still contains the issued one as a signed
revision, so every copy, old or renewed, verifies and is found in the registry.

A renewal is a batch job like import and re-sign (``services/batch.py``): planned from a scan
that reads each current version's newest file, one item per licence that is due, run and
resumed by any job engine. Each item writes its renewal row, audit entry and outcome in one
transaction guarded by the file it started from (``ltv_renewals.previous_sha256`` is unique),
so a resumed or repeated job never renews the same file twice.
"""

from __future__ import annotations

import base64
import functools
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from certsvc.config import Settings
from certsvc.crypto import api as crypto
from certsvc.errors import BadRequestError, ConflictError, InvalidDocumentError
from certsvc.jobs.api import ItemOutcome, WorkItem, record_outcome
from certsvc.services.audit import append_audit_event
from certsvc.services.batch_resign import SKIP_STATUSES
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.pipeline import ItemPipeline, pipeline_depth
from certsvc.services.principals import Principal, Role, require_role
from certsvc.services.provisioning import department_by_code
from certsvc.services.timestamping import ltv_stamper, validation_data
from certsvc.storage.database import Database
from certsvc.storage.orm_ltv import LtvRenewal
from certsvc.storage.repositories_ltv import LtvRenewalRepository, RenewalTarget

if TYPE_CHECKING:
    from certsvc.services.batch import JobCreated

__all__ = [
    "LtvRenewHandler",
    "RenewalPlan",
    "RenewalPolicy",
    "build_ltv_renew_handler",
    "create_renewal_job",
    "plan_renewal",
]

_log = logging.getLogger("certsvc.batch")

_DIGESTS = frozenset({"md5", "sha1", "sha224", "sha256", "sha384", "sha512", "sm3"})


@dataclass(frozen=True, slots=True)
class RenewalPolicy:
    """When a licence is due: its newest time-stamp's TSA certificate ends before
    ``renew_before``, or its digest algorithm is one the operator no longer trusts."""

    renew_before: datetime
    weak_digests: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls, *, now: datetime, within_days: int, weak_digests: Iterable[str] = ()
    ) -> RenewalPolicy:
        """Raises:
        BadRequestError: a negative threshold or an unknown digest name.
        """
        weak = frozenset(d.strip().lower() for d in weak_digests if d.strip())
        if within_days < 0:
            raise BadRequestError(
                "the threshold is a number of days, not negative", code="invalid_threshold"
            )
        unknown = sorted(weak - _DIGESTS)
        if unknown:
            raise BadRequestError(
                f"unknown digest algorithm(s): {', '.join(unknown)}", code="unknown_digest"
            )
        return cls(now + timedelta(days=within_days), weak)

    def due(self, newest: crypto.TimeStampSummary) -> str | None:
        """Why a file whose newest time-stamp is ``newest`` must be renewed, or None."""
        if newest.digest_algorithm in self.weak_digests:
            return f"digest {newest.digest_algorithm} no longer trusted"
        if newest.tsa_not_after <= self.renew_before:
            return f"TSA certificate ({newest.tsa_common_name}) ends {newest.tsa_not_after.isoformat()}"
        return None

    def params(self) -> dict[str, Any]:
        return {
            "renew_before": self.renew_before.isoformat(),
            "weak_digests": sorted(self.weak_digests),
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RenewalPolicy:
        return cls(
            datetime.fromisoformat(str(params["renew_before"])),
            frozenset(params.get("weak_digests") or ()),
        )


@dataclass(frozen=True, slots=True)
class RenewalPlan:
    """What a scan found: licences due, and why the others are left alone."""

    renew_before: datetime
    scanned: int
    due: int
    not_due: int
    without_timestamp: int  # B-B licences: nothing to renew (re-sign them to make them B-LTA)
    revoked_or_cancelled: int
    items: tuple[dict[str, Any], ...]  # the job's items, in licence order


def plan_renewal(
    ctx: ServiceContext,
    policy: RenewalPolicy,
    *,
    principal: Principal,
    department_code: str | None = None,
) -> RenewalPlan:
    """Read every current version's newest file and decide which are due (nothing is stored).

    Raises:
        PermissionDeniedError: not an operator.
        NotFoundError: no such department.
    """
    require_role(principal, Role.OPERATOR)
    department_id = None
    if department_code is not None:
        with ctx.database.read() as session:
            department_id = department_by_code(session, department_code).id
    counts = {"scanned": 0, "not_due": 0, "without_timestamp": 0, "skipped": 0}
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        # Short read transactions, one page each: the files are read outside them.
        with ctx.database.read() as session:
            page = LtvRenewalRepository(session).targets(
                department_id=department_id, after_id=after
            )
        if not page:
            break
        after = page[-1].certificate_id
        for target in page:
            counts["scanned"] += 1
            if target.status in SKIP_STATUSES:
                counts["skipped"] += 1
                continue
            newest = _newest(ctx, target)
            if newest is None:
                counts["without_timestamp"] += 1
                continue
            why = policy.due(newest)
            if why is None:
                counts["not_due"] += 1
                continue
            items.append(
                {
                    "seq": len(items) + 1,
                    "key": target.identifier,
                    "payload": {"certificate_id": target.certificate_id, "due": why},
                }
            )
    return RenewalPlan(
        renew_before=policy.renew_before, scanned=counts["scanned"], due=len(items), not_due=counts["not_due"],
        without_timestamp=counts["without_timestamp"], revoked_or_cancelled=counts["skipped"], items=tuple(items),
    )  # fmt: skip


def _newest(ctx: ServiceContext, target: RenewalTarget) -> crypto.TimeStampSummary | None:
    return crypto.newest_timestamp(ctx.blobs.get(target.file_sha256))


class _ClaimLost(Exception):
    """The item was handed to another worker meanwhile: roll back, record nothing."""


class LtvRenewHandler:
    """Item handler of renewal jobs; one per worker process (or per in-thread run)."""

    def __init__(
        self, ctx: ServiceContext, *, job_id: int, params: Mapping[str, Any], owns_context: bool
    ) -> None:
        self.ctx = ctx
        self.job_id = job_id
        self.policy = RenewalPolicy.from_params(params)
        self.actor = Principal(
            client_id=int(params.get("actor_client_id") or 0),
            name=str(params.get("actor_name") or "batch")[:60],
            role=Role.OPERATOR,
            department_id=None,
            department_code=None,
        )
        self._owns_context = owns_context
        self._ahead: ItemPipeline[
            ItemOutcome | tuple[RenewalTarget, str, crypto.TimeStampSummary]
        ] = ItemPipeline(pipeline_depth(ctx.settings))

    @property
    def database(self) -> Database:
        return self.ctx.database

    def close(self) -> None:
        self._ahead.close()
        if self._owns_context:
            self.ctx.database.dispose()

    def prepare(self, session: Session, items: list[WorkItem]) -> None:
        """Start renewing the claimed chunk's licences ahead (services/pipeline.py), so their
        TSA round trips overlap; ``handle`` records each result in order."""
        for item in items:
            self._ahead.start(
                item.id,
                functools.partial(self._renew, int(item.payload["certificate_id"]), item.key),
            )

    def handle(self, item: WorkItem) -> ItemOutcome:
        """Renew the newest file of the licence named by the item, if it is still due.

        Raises:
            ConflictError: ``tsa_certificate_ends_too_soon`` — the TSA used now would not outlive
                the threshold either (renew the TSA's certificate first: ``certsvc tsa renew``);
                ``renewal_digest_weak`` — it stamps with one of the digests being replaced.
            TimeStampUnavailableError: the TSA could not be reached.
            InvalidDocumentError: the stored file cannot be read.
        """
        renewed = self._ahead.result(
            item.id, functools.partial(self._renew, int(item.payload["certificate_id"]), item.key)
        )
        if isinstance(renewed, ItemOutcome):
            return renewed
        target, sha, stamp = renewed
        now = self.ctx.clock.now()
        outcome = ItemOutcome.done(
            {
                "identifier": target.identifier,
                "version": target.version,
                "sha256": sha,
                "stamped_at": stamp.gen_time.isoformat(),
            },
            is_recorded=True,
        )
        try:
            return self._record(item, target, outcome, sha=sha, stamp=stamp, now=now)
        except _ClaimLost:
            _log.warning(
                "batch job %s item %s: claim lost, renewal discarded", self.job_id, item.id
            )
            return ItemOutcome.skipped("claim_lost", is_recorded=True)

    def _renew(
        self, certificate_id: int, key: str
    ) -> ItemOutcome | tuple[RenewalTarget, str, crypto.TimeStampSummary]:
        """The slow part, outside any transaction: the renewed file stored as a blob, or why not."""
        with self.ctx.database.read() as session:
            target = LtvRenewalRepository(session).target(certificate_id)
        if target is None:
            return ItemOutcome.skipped("missing", {"identifier": key})
        if target.status in SKIP_STATUSES:
            return ItemOutcome.skipped(target.status, {"identifier": target.identifier})
        previous = self.ctx.blobs.get(target.file_sha256)
        newest = crypto.newest_timestamp(previous)
        if newest is None or self.policy.due(newest) is None:
            # Renewed meanwhile (another job, a rerun after a crash): nothing left to do.
            return ItemOutcome.skipped("not_due", {"identifier": target.identifier})
        chain = tuple(base64.b64decode(c) for c in target.seal_chain_der)
        data = validation_data(
            self.ctx,
            algorithm=target.seal_algorithm,
            certificate_der=target.seal_certificate_der,
            chain_der=chain,
        )
        renewed = ltv_stamper(self.ctx, target.seal_algorithm).extend(previous, data)
        stamp = crypto.newest_timestamp(renewed)
        if (
            stamp is None or not stamp.is_document_timestamp
        ):  # pragma: no cover - extend always stamps
            raise InvalidDocumentError("the renewed file carries no document time-stamp")
        if stamp.digest_algorithm in self.policy.weak_digests:
            raise ConflictError(
                f"the TSA time-stamps with {stamp.digest_algorithm}, a digest this renewal is meant to replace",
                code="renewal_digest_weak",
            )
        if self.policy.due(stamp) is not None:
            raise ConflictError(
                f"the TSA's certificate ({stamp.tsa_common_name}) ends {stamp.tsa_not_after.isoformat()}, "
                f"before the threshold {self.policy.renew_before.isoformat()}: renew the TSA certificate first",
                code="tsa_certificate_ends_too_soon",
            )
        return target, self.ctx.blobs.put(renewed), stamp

    def _record(
        self,
        item: WorkItem,
        target: RenewalTarget,
        outcome: ItemOutcome,
        *,
        sha: str,
        stamp: crypto.TimeStampSummary,
        now: datetime,
    ) -> ItemOutcome:
        with self.ctx.database.transaction() as session:
            repo = LtvRenewalRepository(session)
            if repo.is_renewed_from(target.file_sha256):
                # Renewed from the same file by another job meanwhile: this renewal is dropped.
                dropped = ItemOutcome.skipped(
                    "already_renewed", {"identifier": target.identifier}, is_recorded=True
                )
                if not record_outcome(session, item, dropped, now=now):
                    raise _ClaimLost
                return dropped
            repo.add(
                LtvRenewal(
                    certificate_id=target.certificate_id, version=target.version, previous_sha256=target.file_sha256,
                    sha256=sha, stamped_at=stamp.gen_time, tsa_not_after=stamp.tsa_not_after, job_id=self.job_id,
                )
            )  # fmt: skip
            append_audit_event(
                session, at=now, actor=self.actor, action="certificate.ltv_renew", target=target.identifier,
                request_id=f"batch-{self.job_id}",
                details={"version": target.version, "sha256": sha, "tsa_not_after": stamp.tsa_not_after.isoformat()},
            )  # fmt: skip
            if not record_outcome(session, item, outcome, now=now):
                raise _ClaimLost  # another worker owns the item now: roll back, its outcome stands
        return outcome


def build_ltv_renew_handler(config: Mapping[str, Any]) -> LtvRenewHandler:
    """Task factory (``TaskSpec``): a handler with its own context, built in a worker process."""
    settings = config["settings"]
    assert isinstance(settings, Settings)
    ctx = build_context(settings, migrate=False)
    return LtvRenewHandler(
        ctx, job_id=int(config["job_id"]), params=config["params"], owns_context=True
    )


def create_renewal_job(
    ctx: ServiceContext,
    *,
    within_days: int,
    weak_digests: Iterable[str] = (),
    principal: Principal,
    department_code: str | None = None,
) -> tuple[JobCreated, RenewalPlan | None]:
    """Plan a renewal job (one item per licence due) and store it; the same command while its
    job is unfinished finds that job instead (the plan is then None).

    Raises:
        as ``plan_renewal``; BadRequestError: as ``RenewalPolicy.of``.
    """
    from certsvc.services.batch import BatchKind, BatchService

    policy = RenewalPolicy.of(
        now=ctx.clock.now(), within_days=within_days, weak_digests=weak_digests
    )
    require_role(principal, Role.OPERATOR)
    batches = BatchService(ctx)
    command = {
        "within_days": within_days,
        "weak_digests": sorted(policy.weak_digests),
        "department_code": department_code,
    }
    existing = batches.unfinished_job(BatchKind.LTV_RENEW, command)
    if existing is not None:
        return existing, None
    plan = plan_renewal(ctx, policy, principal=principal, department_code=department_code)
    created = batches.create_planned_job(
        BatchKind.LTV_RENEW,
        command,
        {**command, **policy.params()},
        [dict(i) for i in plan.items],
        principal=principal,
    )
    return created, plan
