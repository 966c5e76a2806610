"""The OFD file of each licence version (GB/T 33190 with a GB/T 38540 seal)."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from certsvc.storage.orm import Base

__all__ = ["CertificateOfd"]


class CertificateOfd(Base):
    """One sealed OFD per (licence, registry revision), beside that revision's PDFs.

    Only versions sealed with an SM2 seal have one: GB/T 38540 seals are SM2 (see docs/ofd.md).
    """

    __tablename__ = "certificate_ofds"
    __table_args__ = (UniqueConstraint("certificate_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)  # certificate_versions.version
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # the sealed OFD
    unsigned_sha256: Mapped[str] = mapped_column(String(64))  # kept so re-sealing need not render
    seal_box: Mapped[list[float]] = mapped_column(
        JSON
    )  # [page, x, y, width, height] in mm, top-left origin
