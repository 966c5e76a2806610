"""Webhook endpoints and their delivery log as operators see them (pages, deletion)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from certsvc.domain.paging import Page, PageRequest
from certsvc.storage.orm_lifecycle import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from certsvc.storage.paging import read_page

__all__ = ["WebhookAdminRepository"]


class WebhookAdminRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def endpoint(self, endpoint_id: int) -> WebhookEndpoint | None:
        return self.session.get(WebhookEndpoint, endpoint_id)

    def endpoints(self, department_id: int, page: PageRequest) -> Page[WebhookEndpoint]:
        query = select(WebhookEndpoint).where(WebhookEndpoint.department_id == department_id)
        return read_page(self.session, query, WebhookEndpoint.id, page, newest_first=False)

    def deliveries(self, endpoint_id: int, page: PageRequest) -> Page[WebhookDelivery]:
        query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        return read_page(self.session, query, WebhookDelivery.id, page)

    def attempts_of(self, delivery_ids: Sequence[int]) -> dict[int, list[WebhookAttempt]]:
        """The attempts of each delivery, in the order they were made (an operator's retry
        starts its numbering again)."""
        found: dict[int, list[WebhookAttempt]] = {}
        if not delivery_ids:
            return found
        rows = self.session.scalars(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_(delivery_ids))
            .order_by(WebhookAttempt.delivery_id, WebhookAttempt.id)
        )
        for row in rows:
            found.setdefault(row.delivery_id, []).append(row)
        return found

    def delivery(self, endpoint_id: int, delivery_id: int) -> WebhookDelivery | None:
        return self.session.scalar(
            select(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint_id
            )
        )

    def pending_of(self, endpoint_id: int) -> list[int]:
        return list(
            self.session.scalars(
                select(WebhookDelivery.id)
                .where(
                    WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.status == "pending"
                )
                .order_by(WebhookDelivery.id)
            )
        )

    def delete(self, endpoint: WebhookEndpoint) -> None:
        """The endpoint, its deliveries and their attempts (children first: foreign keys)."""
        deliveries = select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == endpoint.id)
        self.session.execute(
            delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(deliveries))
        )
        self.session.execute(
            delete(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
        )
        self.session.delete(endpoint)
        self.session.flush()
