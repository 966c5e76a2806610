"""Queries of the regional connection: the upstream outbox and the hub's copies. They never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, and_, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from certsvc.storage.orm import Certificate
from certsvc.storage.orm_connector import (
    HubDelivery,
    HubLicence,
    HubLicenceFile,
    HubMember,
    UpstreamOutboxRow,
)
from certsvc.storage.outbox_lease import lease_outbox_row

__all__ = ["HubRepository", "UpstreamOutboxRepository"]


class UpstreamOutboxRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(
        self,
        *,
        certificate_id: int,
        event: str,
        version: int,
        status_after: str | None,
        now: datetime,
    ) -> None:
        """One row, numbered after the licence's last one. The caller's transaction has written the
        licence's row, so two changes of one licence cannot take the same number (and the unique
        constraint would refuse it if they did). ``status_after=None``: the licence's stored status."""
        table = UpstreamOutboxRow.__table__
        assert isinstance(table, Table)
        status = (
            status_after
            if status_after is not None
            else select(Certificate.status)
            .where(Certificate.id == certificate_id)
            .scalar_subquery()
        )
        next_sequence = (
            select(func.coalesce(func.max(table.c.sequence), 0) + 1)
            .where(table.c.certificate_id == certificate_id)
            .scalar_subquery()
        )
        self.session.execute(
            insert(table).values(
                delivery_id=str(uuid.uuid4()),
                certificate_id=certificate_id,
                sequence=next_sequence,
                event=event,
                version=version,
                status_after=status,
                created_at=now,
                status="pending",
                attempts=0,
                next_attempt_at=now,
            )
        )

    def never_queued(self, *, after_id: int, limit: int) -> Sequence[tuple[int, int, str]]:
        """(certificate id, current version, status) of licences with no outbox row, by id."""
        queued = (
            select(UpstreamOutboxRow.id)
            .where(UpstreamOutboxRow.certificate_id == Certificate.id)
            .exists()
        )
        rows = self.session.execute(
            select(Certificate.id, Certificate.current_version, Certificate.status)
            .where(Certificate.id > after_id, ~queued)
            .order_by(Certificate.id)
            .limit(limit)
        )
        return [(int(i), int(v), str(s)) for i, v, s in rows]

    def due_ids(self, *, now: datetime, limit: int) -> Sequence[int]:
        """Pending rows whose time has come and that are first in line for their licence: a row
        waits while an earlier one of the same licence is not delivered (order per licence)."""
        earlier = aliased(UpstreamOutboxRow)
        blocked = (
            select(earlier.id)
            .where(
                earlier.certificate_id == UpstreamOutboxRow.certificate_id,
                earlier.sequence < UpstreamOutboxRow.sequence,
                earlier.status != "delivered",
            )
            .exists()
        )
        return self.session.scalars(
            select(UpstreamOutboxRow.id)
            .where(
                UpstreamOutboxRow.status == "pending",
                UpstreamOutboxRow.next_attempt_at <= now,
                ~blocked,
            )
            .order_by(UpstreamOutboxRow.id)
            .limit(limit)
        ).all()

    def row(self, row_id: int) -> UpstreamOutboxRow | None:
        return self.session.get(UpstreamOutboxRow, row_id)

    def lease(
        self, row_id: int, *, owner: str, attempts: int, now: datetime, until: datetime
    ) -> bool:
        return lease_outbox_row(
            self.session,
            UpstreamOutboxRow,
            row_id,
            owner=owner,
            attempts=attempts,
            now=now,
            until=until,
        )

    def counts(self) -> dict[str, int]:
        rows = self.session.execute(
            select(UpstreamOutboxRow.status, func.count()).group_by(UpstreamOutboxRow.status)
        ).all()
        return {str(status): int(count) for status, count in rows}

    def oldest_pending_at(self) -> datetime | None:
        return self.session.scalar(
            select(func.min(UpstreamOutboxRow.created_at)).where(
                UpstreamOutboxRow.status == "pending"
            )
        )

    def unfinished(self, *, limit: int) -> Sequence[UpstreamOutboxRow]:
        """Failed rows and pending ones that have been tried, oldest first."""
        return self.session.scalars(
            select(UpstreamOutboxRow)
            .where(
                (UpstreamOutboxRow.status == "failed")
                | and_(UpstreamOutboxRow.status == "pending", UpstreamOutboxRow.attempts > 0)
            )
            .order_by(UpstreamOutboxRow.id)
            .limit(limit)
        ).all()

    def for_certificate(self, certificate_id: int) -> Sequence[UpstreamOutboxRow]:
        return self.session.scalars(
            select(UpstreamOutboxRow)
            .where(UpstreamOutboxRow.certificate_id == certificate_id)
            .order_by(UpstreamOutboxRow.sequence)
        ).all()

    def retry_failed(self, *, delivery_ids: Sequence[str] | None, now: datetime) -> int:
        """Failed rows (all, or those named) become pending again with a fresh count of attempts."""
        statement = update(UpstreamOutboxRow).where(UpstreamOutboxRow.status == "failed")
        if delivery_ids is not None:
            statement = statement.where(UpstreamOutboxRow.delivery_id.in_(list(delivery_ids)))
        done = self.session.execute(
            statement.values(
                status="pending",
                attempts=0,
                next_attempt_at=now,
                lease_owner=None,
                lease_until=None,
            ).execution_options(synchronize_session=False)
        )
        return int(done.rowcount)  # type: ignore[attr-defined]  # a CursorResult


class HubRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add_member(self, member: HubMember) -> HubMember:
        self.session.add(member)
        self.session.flush()
        return member

    def member(self, member_id: int) -> HubMember | None:
        return self.session.get(HubMember, member_id)

    def member_by_name(self, name: str) -> HubMember | None:
        return self.session.scalar(select(HubMember).where(HubMember.name == name))

    def members(self) -> Sequence[HubMember]:
        return self.session.scalars(select(HubMember).order_by(HubMember.name)).all()

    def delivery(self, member_id: int, delivery_id: str) -> HubDelivery | None:
        return self.session.scalar(
            select(HubDelivery).where(
                HubDelivery.member_id == member_id, HubDelivery.delivery_id == delivery_id
            )
        )

    def deliveries_of(self, licence_id: int) -> Sequence[HubDelivery]:
        return self.session.scalars(
            select(HubDelivery).where(HubDelivery.licence_id == licence_id).order_by(HubDelivery.id)
        ).all()

    def licence(self, member_id: int, identifier_base: str) -> HubLicence | None:
        return self.session.scalar(
            select(HubLicence).where(
                HubLicence.member_id == member_id, HubLicence.identifier_base == identifier_base
            )
        )

    def add(self, row: object) -> None:
        self.session.add(row)
        self.session.flush()

    def file(self, licence_id: int, version: int) -> HubLicenceFile | None:
        return self.session.scalar(
            select(HubLicenceFile).where(
                HubLicenceFile.licence_id == licence_id, HubLicenceFile.version == version
            )
        )

    def files_by_sha256(self, sha256: str) -> Sequence[HubLicenceFile]:
        return self.session.scalars(
            select(HubLicenceFile).where(HubLicenceFile.sha256 == sha256)
        ).all()

    def files_by_ofd_sha256(self, sha256: str) -> Sequence[HubLicenceFile]:
        return self.session.scalars(
            select(HubLicenceFile).where(HubLicenceFile.ofd_sha256 == sha256)
        ).all()

    def licence_by_id(self, licence_id: int) -> HubLicence | None:
        return self.session.get(HubLicence, licence_id)

    def licences_by_identifier(self, identifier: str) -> Sequence[HubLicence]:
        """The licences whose current identifier, or one of whose delivered versions, is ``identifier``."""
        by_file = select(HubLicenceFile.licence_id).where(HubLicenceFile.identifier == identifier)
        return self.session.scalars(
            select(HubLicence).where(
                (HubLicence.identifier == identifier) | HubLicence.id.in_(by_file)
            )
        ).all()

    def search(
        self,
        *,
        holder_code: str | None,
        type_code: str | None,
        issuer_code: str | None,
        member_id: int | None,
        limit: int,
    ) -> Sequence[HubLicence]:
        statement = select(HubLicence)
        if holder_code is not None:
            statement = statement.where(HubLicence.holder_code == holder_code)
        if type_code is not None:
            statement = statement.where(HubLicence.type_code == type_code)
        if issuer_code is not None:
            statement = statement.where(HubLicence.issuer_code == issuer_code)
        if member_id is not None:
            statement = statement.where(HubLicence.member_id == member_id)
        return self.session.scalars(statement.order_by(HubLicence.id).limit(limit)).all()

    def member_counts(self) -> dict[int, tuple[int, int]]:
        """Per member: licences kept and deliveries accepted."""
        licences = {
            int(m): int(n)
            for m, n in self.session.execute(
                select(HubLicence.member_id, func.count()).group_by(HubLicence.member_id)
            )
        }
        deliveries = {
            int(m): int(n)
            for m, n in self.session.execute(
                select(HubDelivery.member_id, func.count()).group_by(HubDelivery.member_id)
            )
        }
        return {
            m: (int(licences.get(m, 0)), int(deliveries.get(m, 0)))
            for m in {*licences, *deliveries}
        }
