"""Queries for the lifecycle, administration, webhooks and the audit chain. They never commit."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from certsvc.domain.paging import Page, PageRequest
from certsvc.storage.orm import ApiClient, AuditEvent, Seal
from certsvc.storage.orm_lifecycle import (
    AuditCheckpoint,
    StatusChange,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from certsvc.storage.outbox_lease import lease_outbox_row
from certsvc.storage.paging import read_page

__all__ = [
    "AuditChainRepository",
    "ClientAdminRepository",
    "SealAdminRepository",
    "StatusHistoryRepository",
    "WebhookRepository",
]


class StatusHistoryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, change: StatusChange) -> StatusChange:
        self.session.add(change)
        self.session.flush()
        return change

    def for_certificate(self, certificate_id: int) -> Sequence[StatusChange]:
        return self.session.scalars(
            select(StatusChange)
            .where(StatusChange.certificate_id == certificate_id)
            .order_by(StatusChange.id)
        ).all()

    def last_before(self, certificate_id: int, at: datetime) -> StatusChange | None:
        """The newest change at or before ``at`` (ties broken by insertion order)."""
        return self.session.scalar(
            select(StatusChange)
            .where(StatusChange.certificate_id == certificate_id, StatusChange.at <= at)
            .order_by(StatusChange.at.desc(), StatusChange.id.desc())
            .limit(1)
        )


class SealAdminRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_id(self, seal_id: int) -> Seal | None:
        return self.session.get(Seal, seal_id)

    def with_compromise_time(self) -> list[Seal]:
        """Seals still carrying a compromise time of their own (see ``adopt_recorded_compromises``)."""
        return list(
            self.session.scalars(
                select(Seal).where(Seal.compromised_at.is_not(None)).order_by(Seal.id)
            )
        )


class ClientAdminRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_id(self, client_id: int) -> ApiClient | None:
        return self.session.get(ApiClient, client_id)

    def page(self, page: PageRequest, *, department_id: int | None = None) -> Page[ApiClient]:
        query = select(ApiClient)
        if department_id is not None:
            query = query.where(ApiClient.department_id == department_id)
        return read_page(self.session, query, ApiClient.id, page, newest_first=False)


class WebhookRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_endpoint(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        self.session.add(endpoint)
        self.session.flush()
        return endpoint

    def endpoint(self, endpoint_id: int) -> WebhookEndpoint | None:
        return self.session.get(WebhookEndpoint, endpoint_id)

    def active_endpoints(self, department_id: int) -> Sequence[WebhookEndpoint]:
        return self.session.scalars(
            select(WebhookEndpoint)
            .where(
                WebhookEndpoint.department_id == department_id, WebhookEndpoint.is_active.is_(True)
            )
            .order_by(WebhookEndpoint.id)
        ).all()

    def with_encrypted_secret(self) -> Sequence[WebhookEndpoint]:
        return self.session.scalars(
            select(WebhookEndpoint)
            .where(WebhookEndpoint.encrypted_secret.is_not(None))
            .order_by(WebhookEndpoint.id)
        ).all()

    def with_clear_text_secret(self) -> Sequence[WebhookEndpoint]:
        """Endpoints registered before secrets were encrypted, still holding clear text."""
        return self.session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.legacy_secret.is_not(None))
        ).all()

    def add_delivery(self, delivery: WebhookDelivery) -> WebhookDelivery:
        self.session.add(delivery)
        self.session.flush()
        return delivery

    def delivery(self, delivery_id: int) -> WebhookDelivery | None:
        return self.session.get(WebhookDelivery, delivery_id)

    def lease(
        self, delivery_id: int, *, owner: str, attempts: int, now: datetime, until: datetime
    ) -> bool:
        """Take (or renew) the right to make attempt ``attempts + 1``; False if another has it."""
        return lease_outbox_row(
            self.session,
            WebhookDelivery,
            delivery_id,
            owner=owner,
            attempts=attempts,
            now=now,
            until=until,
        )

    def pending_ids(self) -> Sequence[int]:
        return self.session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == "pending")
            .order_by(WebhookDelivery.id)
        ).all()

    def add_attempt(self, attempt: WebhookAttempt) -> WebhookAttempt:
        self.session.add(attempt)
        self.session.flush()
        return attempt


class AuditChainRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def walk(self, *, batch: int = 1000) -> Iterator[AuditEvent]:
        """Every event in id order, streamed."""
        yield from self.session.scalars(
            select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=batch)
        )

    def hashes(self) -> dict[str, int]:
        """entry_hash -> id of every event (to tell a moved entry from a missing one)."""
        return {h: i for h, i in self.session.execute(select(AuditEvent.entry_hash, AuditEvent.id))}

    def event(self, event_id: int) -> AuditEvent | None:
        return self.session.get(AuditEvent, event_id)

    def count_up_to(self, event_id: int) -> int:
        return int(self.session.scalar(select(func.count()).where(AuditEvent.id <= event_id)) or 0)

    def between(
        self, start: datetime | None, end: datetime | None, page: PageRequest
    ) -> Page[AuditEvent]:
        """Events with ``start <= at < end``, oldest first (the chain's order)."""
        query = select(AuditEvent)
        if start is not None:
            query = query.where(AuditEvent.at >= start)
        if end is not None:
            query = query.where(AuditEvent.at < end)
        return read_page(self.session, query, AuditEvent.id, page, newest_first=False)

    def add_checkpoint(self, checkpoint: AuditCheckpoint) -> AuditCheckpoint:
        self.session.add(checkpoint)
        self.session.flush()
        return checkpoint

    def last_checkpoint(self) -> AuditCheckpoint | None:
        return self.session.scalar(
            select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1)
        )

    def last_numbered_checkpoint(self) -> AuditCheckpoint | None:
        return self.session.scalar(
            select(AuditCheckpoint)
            .where(AuditCheckpoint.sequence.is_not(None))
            .order_by(AuditCheckpoint.sequence.desc())
            .limit(1)
        )

    def last_checkpoint_before(self, checkpoint_id: int) -> AuditCheckpoint | None:
        return self.session.scalar(
            select(AuditCheckpoint)
            .where(AuditCheckpoint.id < checkpoint_id)
            .order_by(AuditCheckpoint.id.desc())
            .limit(1)
        )

    def first_after(self, event_id: int) -> AuditEvent | None:
        return self.session.scalar(
            select(AuditEvent).where(AuditEvent.id > event_id).order_by(AuditEvent.id).limit(1)
        )

    def entry_hashes_after(self, event_id: int, *, up_to: int) -> Iterator[tuple[int, str]]:
        """(id, entry hash) of the entries after ``event_id`` up to ``up_to``, in order."""
        rows = self.session.execute(
            select(AuditEvent.id, AuditEvent.entry_hash)
            .where(AuditEvent.id > event_id, AuditEvent.id <= up_to)
            .order_by(AuditEvent.id)
        )
        for event_id_, entry in rows:
            yield int(event_id_), str(entry)

    def checkpoints(self) -> Sequence[AuditCheckpoint]:
        return self.session.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.id)).all()
