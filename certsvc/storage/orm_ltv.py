"""Archival renewals of issued files: a newer document time-stamp appended to a version's PDF."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from certsvc.storage.orm import Base

__all__ = ["LtvRenewal"]


class LtvRenewal(Base):
    """One renewal of a version's electronic PDF (``certsvc ltv renew``).

    The renewed file is the previous one plus one incremental revision (DSS + document
    time-stamp), so it still contains the issued file as a signed revision and verification
    finds its version through it; ``previous_sha256`` is unique, so a renewal is never made
    twice from the same file (a resumed job) and the renewals of a version form a chain.
    """

    __tablename__ = "ltv_renewals"
    __table_args__ = (UniqueConstraint("previous_sha256", name="uq_ltv_renewals_previous_sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    previous_sha256: Mapped[str] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # the renewed file (blob)
    stamped_at: Mapped[datetime] = mapped_column()  # the new document time-stamp's genTime
    tsa_not_after: Mapped[datetime] = mapped_column()  # until when the new time-stamp proves
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
