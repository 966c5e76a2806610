"""Tables of the licence lifecycle: status history, department webhooks, audit checkpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from certsvc.storage.orm import Base

__all__ = [
    "AuditCheckpoint",
    "StatusChange",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
]


class StatusChange(Base):
    """One change of a licence's state (or a new version of it); the history verification reads."""

    __tablename__ = "certificate_status_changes"
    __table_args__ = (Index("ix_certificate_status_changes_cert_at", "certificate_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"))
    at: Mapped[datetime] = mapped_column()
    action: Mapped[str] = mapped_column(String(20))  # LicenceAction value
    from_status: Mapped[str] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(500))
    version: Mapped[int] = mapped_column(
        Integer
    )  # the licence's current registry revision afterwards
    identifier: Mapped[str] = mapped_column(String(130))  # the current identifier afterwards
    actor: Mapped[str] = mapped_column(String(100))
    # A ReasonCategory value: the only part of "why" the public verification page shows.
    category: Mapped[str] = mapped_column(String(30), default="other", server_default="other")


class WebhookEndpoint(Base):
    """Where a department wants to hear about its licences' state changes."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    # The HMAC key must be usable to sign, so it cannot be stored as a hash: it is stored
    # encrypted (``crypto.SecretBox``, key derived from the key passphrase), shown to the
    # operator once and never returned by the API afterwards.
    encrypted_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Clear text of rows written before encryption; emptied when the service starts.
    legacy_secret: Mapped[str | None] = mapped_column("secret", String(100), nullable=True)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column()


class WebhookDelivery(Base):
    """One event for one endpoint (an outbox row written in the state change's transaction)."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("webhook_endpoints.id"), index=True)
    event_id: Mapped[str] = mapped_column(String(36), unique=True)  # receivers de-duplicate on it
    event_type: Mapped[str] = mapped_column(String(50))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(
        String(20), default="pending"
    )  # pending | delivered | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column(nullable=True)
    # The delivering process and how long it may: several processes share the outbox.
    lease_owner: Mapped[str | None] = mapped_column(String(64), nullable=True)
    lease_until: Mapped[datetime | None] = mapped_column(nullable=True)


class WebhookAttempt(Base):
    """Every attempt to deliver, successful or not."""

    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("webhook_deliveries.id"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column()
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer)
    is_success: Mapped[bool] = mapped_column()


class AuditCheckpoint(Base):
    """A signed statement of the audit chain's head: rewriting history must forge this signature."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column()
    last_event_id: Mapped[int] = mapped_column(Integer)
    head_hash: Mapped[str] = mapped_column(String(64))
    event_count: Mapped[int] = mapped_column(Integer)
    algorithm: Mapped[str] = mapped_column(String(20))
    public_key_der: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    # 1, 2, 3 ... and the hash of the previous checkpoint: deleting or replacing a checkpoint
    # leaves a gap in the numbers or a broken link. NULL on checkpoints made before numbering.
    sequence: Mapped[int | None] = mapped_column(Integer, unique=True, nullable=True, default=None)
    prev_checkpoint_hash: Mapped[str | None] = mapped_column(
        String(64), nullable=True, default=None
    )
