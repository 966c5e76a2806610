"""Tables of the regional connection (对接): a member's upstream outbox and a hub's copies.

A 盟 deployment writes ``upstream_outbox`` rows in the transaction of each change; a deployment
with ``CERTSVC_ROLE=hub`` keeps its members (``hub_members``), what each delivered
(``hub_deliveries``, one row per delivery id) and read-only copies of their licences
(``hub_licences`` with every delivered file in ``hub_licence_files``; the files sit in the blob
store with their original seals).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from certsvc.storage.orm import Base

__all__ = ["HubDelivery", "HubLicence", "HubLicenceFile", "HubMember", "UpstreamOutboxRow"]


class UpstreamOutboxRow(Base):
    """One change of one licence to deliver upstream, in order per licence (``sequence``)."""

    __tablename__ = "upstream_outbox"
    __table_args__ = (
        UniqueConstraint(
            "certificate_id", "sequence", name="uq_upstream_outbox_certificate_sequence"
        ),
        Index("ix_upstream_outbox_status", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The upstream de-duplicates on it: a retried delivery is never a second change.
    delivery_id: Mapped[str] = mapped_column(String(36), unique=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    sequence: Mapped[int] = mapped_column(Integer)  # 1, 2, 3 ... per licence
    event: Mapped[str] = mapped_column(
        String(20)
    )  # issue | amend | reissue | suspend | ... | resign | sync
    version: Mapped[int] = mapped_column(Integer)  # the registry revision whose file is delivered
    status_after: Mapped[str] = mapped_column(String(20))  # the licence's status after the change
    created_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(
        String(20), default="pending"
    )  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)


class HubMember(Base):
    """A 盟 deployment registered at this hub, with the roots its seals must chain to."""

    __tablename__ = "hub_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    credential_sha256: Mapped[str] = mapped_column(String(64))
    # PEM certificates; empty until given at registration or pinned from the first delivery.
    trust_roots_pem: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column()
    is_active: Mapped[bool] = mapped_column(default=True)


class HubLicence(Base):
    """A member's licence as last delivered: its current state and GB/T 36903 metadata."""

    __tablename__ = "hub_licences"
    __table_args__ = (
        UniqueConstraint("member_id", "identifier_base", name="uq_hub_licences_member_base"),
        Index("ix_hub_licences_holder", "holder_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("hub_members.id"))
    identifier_base: Mapped[str] = mapped_column(String(120))
    identifier: Mapped[str] = mapped_column(String(130), index=True)  # the current version's
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20))
    type_code: Mapped[str] = mapped_column(String(21), index=True)
    holder_code: Mapped[str] = mapped_column(String(18))
    issuer_code: Mapped[str] = mapped_column(String(18))
    issuer_name: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    metadata_json: Mapped[dict[str, Any]] = mapped_column("metadata", JSON)
    file_sha256: Mapped[str] = mapped_column(String(64))  # the current version's file
    last_sequence: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column()


class HubLicenceFile(Base):
    """Every file version a member delivered, kept with its original seal."""

    __tablename__ = "hub_licence_files"
    __table_args__ = (
        UniqueConstraint("licence_id", "version", name="uq_hub_licence_files_licence_version"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    licence_id: Mapped[int] = mapped_column(ForeignKey("hub_licences.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    identifier: Mapped[str] = mapped_column(String(130))
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    received_at: Mapped[datetime] = mapped_column()
    # The version's sealed OFD when the member made one (SM2 seals), byte for byte, and the
    # CA certificates (PEM) its seal's chain needs to reach the member's roots: untrusted helpers
    # for path building, the member's pinned roots still decide (migration 0032).
    ofd_sha256: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    ofd_chain_pem: Mapped[str | None] = mapped_column(Text, default=None)


class HubDelivery(Base):
    """One accepted delivery: a repeated delivery id is answered, never applied twice."""

    __tablename__ = "hub_deliveries"
    __table_args__ = (
        UniqueConstraint("member_id", "delivery_id", name="uq_hub_deliveries_member_delivery"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("hub_members.id"))
    delivery_id: Mapped[str] = mapped_column(String(36))
    licence_id: Mapped[int] = mapped_column(ForeignKey("hub_licences.id"), index=True)
    sequence: Mapped[int] = mapped_column(Integer)
    event: Mapped[str] = mapped_column(String(20))
    status_after: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime] = mapped_column()
