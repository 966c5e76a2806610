"""The connector (对接): every licence change reaches the regional e-licence system (the hub).

Guarantees, and how they are kept (docs/region.md):

* **Nothing lost** — ``record_change`` writes an ``upstream_outbox`` row in the transaction of
  the change itself (issuance, lifecycle, batch re-signing); a committed change always has its row.
* **In order per licence** — rows are numbered 1, 2, 3 … per licence; a row is not sent while an
  earlier one of the same licence is undelivered, and the hub refuses a number out of turn.
* **Exactly once as the hub sees it** — each row has a delivery id; a retry after a lost answer
  carries the same id and the hub answers it without applying it again.
* **Retries with back-off, failures visible** — a failed attempt is recorded on the row and tried
  again after ``upstream_backoff_seconds`` doubling up to ``upstream_backoff_max_seconds``; a
  refusal by the hub, or ``upstream_max_attempts`` failures, leave the row ``failed`` (and the
  licence's later changes waiting) until ``certsvc upstream retry``.

Who sends: ``certsvc serve`` runs ``UpstreamConnector.run`` in a background thread of each API
process when ``CERTSVC_UPSTREAM_URL`` is set; ``certsvc upstream deliver`` does the same for a
deployment without a serving process (or once, ``--once``). Attempts are leased per row, so any
number of senders may run at once.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from certsvc.config import Settings
from certsvc.errors import CertsvcError, ConfigurationError
from certsvc.rendering import read_licence_metadata
from certsvc.services.context import ServiceContext
from certsvc.services.ofd_versions import stored_ofd
from certsvc.services.outbox import PostResult, post, retry_delay, sender_id
from certsvc.services.region_payload import (
    DELIVERY_PATH,
    DeliveredFile,
    DeliveredLicence,
    DeliveredOfd,
    Delivery,
)
from certsvc.storage.orm import Certificate
from certsvc.storage.orm_connector import UpstreamOutboxRow
from certsvc.storage.repositories import CertificateRepository
from certsvc.storage.repositories_connector import UpstreamOutboxRepository

__all__ = ["OutboxEntry", "UpstreamConnector", "UpstreamStatus", "record_change"]

_log = logging.getLogger("certsvc.upstream")
_USER_AGENT = "certsvc-upstream/1"
# The hub refused the delivery itself (bad credential, a seal it cannot trust, a malformed body):
# sending the same bytes again cannot succeed, so the row fails at once and waits for an operator.
_REFUSALS = frozenset({400, 401, 403, 404, 413, 422})


def record_change(
    session: Session,
    settings: Settings,
    *,
    certificate_id: int,
    event: str,
    version: int,
    status_after: str | None,
    now: datetime,
) -> None:
    """Inside the caller's transaction: queue the change for the hub (nothing when no hub is configured).

    ``status_after=None`` takes the licence's status as the transaction has written it.
    """
    if settings.upstream_url is None:
        return
    UpstreamOutboxRepository(session).add(
        certificate_id=certificate_id,
        event=event,
        version=version,
        status_after=status_after,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    row_id: int
    delivery_id: str
    identifier_base: str
    sequence: int
    event: str
    version: int
    status: str
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class UpstreamStatus:
    upstream_url: str | None
    counts: dict[str, int]  # pending / delivered / failed
    oldest_pending_at: datetime | None
    unfinished: tuple[OutboxEntry, ...]  # failed, and pending that have failed at least once


class UpstreamConnector:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.owner = sender_id()

    # --- operators ---------------------------------------------------------------------------
    def status(self, *, limit: int = 50) -> UpstreamStatus:
        """What is waiting, what failed and why."""
        with self.ctx.database.read() as session:
            repo = UpstreamOutboxRepository(session)
            unfinished = tuple(_entry(session, row) for row in repo.unfinished(limit=limit))
            return UpstreamStatus(
                self.ctx.settings.upstream_url, repo.counts(), repo.oldest_pending_at(), unfinished
            )

    def retry(self, delivery_ids: Sequence[str] | None = None) -> int:
        """Make failed deliveries (all, or the ones named) pending again; returns how many."""
        with self.ctx.database.transaction() as session:
            return UpstreamOutboxRepository(session).retry_failed(
                delivery_ids=delivery_ids, now=self.ctx.clock.now()
            )

    def backfill(self, *, execute: bool, chunk: int = 500) -> int:
        """Queue every licence that has never been queued (issued before a hub was configured) as a
        ``sync`` of its current version and status; returns how many (would be) queued.

        Raises:
            ConfigurationError: no upstream is configured.
        """
        if self.ctx.settings.upstream_url is None:
            raise ConfigurationError(
                "CERTSVC_UPSTREAM_URL is not set: there is no hub to deliver to"
            )
        count, after = 0, 0
        while True:
            # One short transaction per chunk: a change made meanwhile queues itself, and a licence
            # with a row is skipped, so a rerun (or a crash halfway) never queues one twice.
            with self.ctx.database.transaction() as session:
                repo = UpstreamOutboxRepository(session)
                found = repo.never_queued(after_id=after, limit=chunk)
                if execute:
                    now = self.ctx.clock.now()
                    for certificate_id, version, status in found:
                        repo.add(
                            certificate_id=certificate_id,
                            event="sync",
                            version=version,
                            status_after=status,
                            now=now,
                        )
            if not found:
                return count
            count += len(found)
            after = found[-1][0]

    def history(self, certificate_id: int) -> list[OutboxEntry]:
        with self.ctx.database.read() as session:
            return [
                _entry(session, row)
                for row in UpstreamOutboxRepository(session).for_certificate(certificate_id)
            ]

    # --- sending -----------------------------------------------------------------------------
    def deliver_due(self, *, batch: int = 100) -> int:
        """Send every delivery that is due, licence by licence in order; returns how many were delivered.

        Raises:
            ConfigurationError: no upstream is configured.
        """
        if self.ctx.settings.upstream_url is None:
            raise ConfigurationError(
                "CERTSVC_UPSTREAM_URL is not set: there is no hub to deliver to"
            )
        delivered = 0
        while True:
            with self.ctx.database.read() as session:
                due = UpstreamOutboxRepository(session).due_ids(
                    now=self.ctx.clock.now(), limit=batch
                )
            outcomes = [self.attempt(row_id) for row_id in due]
            delivered += outcomes.count("delivered")
            # A delivery frees the licence's next change: look again; otherwise wait for the clock.
            if "delivered" not in outcomes:
                return delivered

    def run(self, stop: threading.Event) -> None:
        """Deliver until ``stop`` is set, looking for due rows every ``upstream_poll_seconds``."""
        while not stop.is_set():
            if self.ctx.settings.upstream_url is None:
                return
            try:
                self.deliver_due()
            except Exception:
                # The sender stays alive: the rows stay pending, and the next round tries again.
                _log.warning("upstream delivery round failed", exc_info=True)
            stop.wait(self.ctx.settings.upstream_poll_seconds)

    def attempt(self, row_id: int) -> str:
        """One attempt at one row, under its lease; returns the row's status afterwards ("busy":
        another sender holds it)."""
        settings = self.ctx.settings
        with self.ctx.database.read() as session:
            row = UpstreamOutboxRepository(session).row(row_id)
            if row is None or row.status != "pending":
                return row.status if row is not None else "missing"
            attempts, delivery_id = row.attempts, row.delivery_id
        now = self.ctx.clock.now()
        hold = timedelta(seconds=settings.upstream_timeout_seconds + 30)
        with self.ctx.database.transaction() as session:
            if not UpstreamOutboxRepository(session).lease(
                row_id, owner=self.owner, attempts=attempts, now=now, until=now + hold
            ):
                return "busy"
        try:
            body = self.payload(row_id)
        except CertsvcError as exc:
            return self._record(
                row_id,
                attempts,
                PostResult(None, f"{exc.code}: {exc.message}"[:500], 0),
                permanent=True,
            )
        assert (
            settings.upstream_url is not None and settings.upstream_credential is not None
        )  # checked at start-up
        result = post(
            settings.upstream_url.rstrip("/") + DELIVERY_PATH,
            body,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": _USER_AGENT,
                "Authorization": f"Bearer {settings.upstream_credential.get_secret_value()}",
                "X-Certsvc-Delivery-Id": delivery_id,
            },
            timeout=settings.upstream_timeout_seconds,
        )
        return self._record(row_id, attempts, result, permanent=result.status in _REFUSALS)

    def _record(self, row_id: int, attempts: int, result: PostResult, *, permanent: bool) -> str:
        settings = self.ctx.settings
        now = self.ctx.clock.now()
        done = attempts + 1
        with self.ctx.database.transaction() as session:
            row = UpstreamOutboxRepository(session).row(row_id)
            assert row is not None
            row.attempts = done
            row.last_attempt_at = now
            row.lease_owner, row.lease_until = None, None
            if result.is_success:
                row.status, row.delivered_at, row.last_error = "delivered", now, None
            else:
                row.last_error = _describe(result)
                if permanent or done >= settings.upstream_max_attempts:
                    row.status = "failed"
                else:
                    delay = retry_delay(
                        settings.upstream_backoff_seconds,
                        done,
                        cap_seconds=settings.upstream_backoff_max_seconds,
                    )
                    row.next_attempt_at = now + timedelta(seconds=delay)
            status = row.status
        if status == "failed":
            _log.warning("upstream delivery %s failed: %s", row_id, _describe(result))
        return status

    def payload(self, row_id: int) -> bytes:
        """The delivery of an outbox row as the hub receives it: the version's sealed file, the GB/T 36903 metadata
        written into it, and the licence's status after the change."""
        with self.ctx.database.read() as session:
            row = UpstreamOutboxRepository(session).row(row_id)
            assert row is not None
            cert = session.get(Certificate, row.certificate_id)
            assert cert is not None  # foreign key
            version = CertificateRepository(session).version(cert.id, row.version)
            assert version is not None  # versions are never deleted
            file = self.ctx.blobs.get(version.sha256)
            metadata = read_licence_metadata(file) or {}
            delivery = Delivery(
                delivery_id=row.delivery_id,
                sequence=row.sequence,
                event=row.event,
                occurred_at=row.created_at,
                licence=DeliveredLicence(
                    identifier_base=cert.identifier_base,
                    identifier=version.identifier,
                    version=version.version,
                    status=row.status_after,
                    template=cert.template,
                    type_code=cert.type_code,
                    department_code=cert.department.code,
                    department_name=cert.department.name,
                    valid_from=_date(metadata.get("valid_from"), cert.valid_from),
                    valid_until=_date(metadata.get("valid_until"), cert.valid_until),
                ),
                metadata=metadata,
                file=DeliveredFile(
                    sha256=version.sha256, content_base64=base64.b64encode(file).decode()
                ),
                ofd=self._ofd(session, cert.id, version.version),
                trust_roots=[base64.b64encode(root).decode() for root in self.ctx.trust_roots()],
            )
        return delivery.model_dump_json().encode()

    def _ofd(self, session: Session, certificate_id: int, version: int) -> DeliveredOfd | None:
        """The version's sealed OFD and the CA certificates its seal chains through, if it has one."""
        stored = stored_ofd(session, certificate_id, version)
        if stored is None:
            return None
        return DeliveredOfd(
            sha256=stored.sha256,
            content_base64=base64.b64encode(self.ctx.blobs.get(stored.sha256)).decode(),
            chain=[base64.b64encode(der).decode() for der in self.ctx.seal_maker_certificates()],
        )


def _date(text: str | None, fallback: date) -> date:
    """A version's validity as its file states it (a later amendment changes the licence's row)."""
    try:
        return date.fromisoformat(text) if text else fallback
    except ValueError:
        return fallback


def _entry(session: Session, row: UpstreamOutboxRow) -> OutboxEntry:
    cert = session.get(Certificate, row.certificate_id)
    return OutboxEntry(
        row_id=row.id,
        delivery_id=row.delivery_id,
        identifier_base=cert.identifier_base if cert is not None else "",
        sequence=row.sequence,
        event=row.event,
        version=row.version,
        status=row.status,
        attempts=row.attempts,
        last_error=row.last_error,
        next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
        created_at=row.created_at,
    )


def _describe(result: PostResult) -> str:
    """The hub's problem code and title when it answered with one, else the transport error."""
    if result.status is None:
        return result.error or "no answer"
    try:
        problem = json.loads(result.body)
        detail = f"{problem.get('code', '')}: {problem.get('title') or problem.get('detail') or ''}".strip(
            ": "
        )
    except (ValueError, AttributeError):
        detail = ""
    return f"HTTP {result.status}" + (f" {detail}" if detail else "")
