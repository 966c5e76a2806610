"""Revocations of seal certificates: what the CRL and OCSP answers of the seal CAs publish."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from certsvc.storage.orm import Base

__all__ = ["SealRevocation"]


class SealRevocation(Base):
    """One revoked seal certificate (a seal is revoked once; its certificate with it)."""

    __tablename__ = "seal_revocations"

    id: Mapped[int] = mapped_column(primary_key=True)
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"), unique=True)
    certificate_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    serial_hex: Mapped[str] = mapped_column(String(40))
    issuer_sha256: Mapped[str] = mapped_column(
        String(64), index=True
    )  # the issuing CA's certificate
    reason: Mapped[str] = mapped_column(String(30))  # REVOCATION_REASONS key
    revoked_at: Mapped[datetime] = mapped_column()  # recorded (CRL revocationDate)
    invalid_from: Mapped[datetime] = mapped_column()  # RFC 5280 invalidityDate
    actor: Mapped[str] = mapped_column(String(120))
