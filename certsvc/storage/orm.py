"""SQLAlchemy ORM models: the registry. Schema changes go through Alembic migrations only."""

from __future__ import annotations

from datetime import UTC as _UTC
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from certsvc.clock import SystemClock

__all__ = [
    "ApiClient",
    "AuditEvent",
    "Base",
    "Certificate",
    "CertificateVersion",
    "Department",
    "Seal",
    "SerialCounter",
]

# Stable constraint names so migrations are reproducible on SQLite and PostgreSQL alike.
_NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes as UTC and gives them back aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(_UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=_UTC) if value.tzinfo is None else value.astimezone(_UTC)


def _now() -> datetime:
    return SystemClock().now()


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=_NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UtcDateTime, dict[str, Any]: JSON}


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(18), unique=True)  # 统一社会信用代码
    name: Mapped[str] = mapped_column(String(200))
    area_code: Mapped[str] = mapped_column(String(6))  # GB/T 2260
    # Traditional Mongolian script (NFC); 内蒙古 bodies write their names in both scripts
    # (内政办发〔1996〕32号 Art. 2), so seals and licences of a bilingual department carry both.
    name_mn: Mapped[str | None] = mapped_column(String(400), nullable=True)
    is_bilingual: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="active")
    created_at: Mapped[datetime] = mapped_column(default=_now)

    seals: Mapped[list[Seal]] = relationship(back_populates="department")


class Seal(Base):
    __tablename__ = "seals"
    # At most one default seal per department, on SQLite and PostgreSQL alike (a partial index).
    __table_args__ = (
        Index(
            "uq_seals_department_default",
            "department_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))  # e.g. 行政许可专用章
    name_mn: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the same in Mongolian
    # Where the two scripts go on a bilingual round seal: "rings" (Mongolian outer ring,
    # Chinese inner ring) or "halves" (Mongolian upper half, Chinese lower half).
    ring_layout: Mapped[str] = mapped_column(String(10), default="rings")
    # What the seal is for (公章, 行政许可专用章 ...); a template naming a purpose is sealed with it.
    purpose: Mapped[str] = mapped_column(String(100))
    # The seal that signs when a template names no purpose. Set explicitly (the first seal of a
    # department gets it); adding a seal never moves it, so issuance never changes by itself.
    is_default: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    algorithm: Mapped[str] = mapped_column(String(20))  # KeyAlgorithm value
    key_ref: Mapped[str] = mapped_column(String(300))  # key store reference, never the key itself
    certificate_der: Mapped[bytes] = mapped_column(LargeBinary)
    chain_der: Mapped[list[str]] = mapped_column(JSON, default=list)  # base64 DER, seal CA first
    image_sha256: Mapped[str] = mapped_column(String(64))
    ses_seal_der: Mapped[bytes | None] = mapped_column(
        LargeBinary, nullable=True
    )  # GB/T 38540, SM2 only
    status: Mapped[str] = mapped_column(String(20), default="active")
    valid_from: Mapped[datetime] = mapped_column()
    valid_until: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=_now)
    # Written by versions before key compromises became revocations (``seal_revocations``, the
    # one record); turned into one and cleared at start-up (services/revocation.py).
    compromised_at: Mapped[datetime | None] = mapped_column(nullable=True, default=None)

    department: Mapped[Department] = relationship(back_populates="seals")


class ApiClient(Base):
    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"), nullable=True)
    key_id: Mapped[str] = mapped_column(String(32), unique=True)  # public lookup part of the key
    key_hash: Mapped[str] = mapped_column(
        String(64)
    )  # SHA-256 of the secret part; the key is shown once
    created_at: Mapped[datetime] = mapped_column(default=_now)
    expires_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class SerialCounter(Base):
    """Next 流水号 per issuing department, licence type and year."""

    __tablename__ = "serial_counters"
    __table_args__ = (UniqueConstraint("department_id", "type_code", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"))
    type_code: Mapped[str] = mapped_column(String(21))
    year: Mapped[int] = mapped_column(Integer)
    next_value: Mapped[int] = mapped_column(BigInteger, default=1)


class Certificate(Base):
    """One licence; its signed files are its versions."""

    __tablename__ = "certificates"
    __table_args__ = (
        UniqueConstraint("department_id", "idempotency_key"),
        Index("ix_certificates_holder", "holder_id_type", "holder_id"),
        # One 许可证编号 per department and licence type, kept by the database itself so two
        # concurrent issues cannot both win (NULLs, licences without a number, never collide).
        Index(
            "uq_certificates_licence_number",
            "department_id",
            "type_code",
            "licence_number",
            unique=True,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    identifier_base: Mapped[str] = mapped_column(
        String(120), unique=True
    )  # without version + check
    identifier: Mapped[str] = mapped_column(String(130), unique=True)  # the current version's
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    template: Mapped[str] = mapped_column(String(64))
    type_code: Mapped[str] = mapped_column(String(21))
    holder_name: Mapped[str] = mapped_column(String(200))
    holder_id_type: Mapped[str] = mapped_column(String(20))
    holder_id: Mapped[str] = mapped_column(String(18))
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(20))
    valid_from: Mapped[date] = mapped_column(Date)
    valid_until: Mapped[date] = mapped_column(Date)
    current_version: Mapped[int] = mapped_column(Integer)
    issued_at: Mapped[datetime] = mapped_column()
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_sha256: Mapped[str] = mapped_column(String(64))
    # The printed licence number (the template's number field), unique per department and type.
    licence_number: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The answer given when the licence was issued; an idempotent replay returns exactly this.
    issue_response: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    versions: Mapped[list[CertificateVersion]] = relationship(
        back_populates="certificate", order_by="CertificateVersion.version"
    )
    department: Mapped[Department] = relationship()


class CertificateVersion(Base):
    __tablename__ = "certificate_versions"
    __table_args__ = (UniqueConstraint("certificate_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("certificates.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)  # registry revision: 1, 2, 3 ... per licence
    # The GB/T 36904 identifier printed on this file. Amending or re-issuing bumps its 版本号;
    # re-signing the same page with a new seal keeps it, so several revisions may share one.
    identifier: Mapped[str] = mapped_column(String(130), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)  # the signed electronic PDF
    print_sha256: Mapped[str] = mapped_column(String(64), index=True)
    unsigned_sha256: Mapped[str] = mapped_column(String(64))  # kept so re-signing need not render
    seal_box: Mapped[list[float]] = mapped_column(
        JSON
    )  # [page, x1, y1, x2, y2] of the visible seal
    seal_id: Mapped[int] = mapped_column(ForeignKey("seals.id"))
    signed_at: Mapped[datetime] = mapped_column()
    reason: Mapped[str] = mapped_column(String(200))
    ses_signature_der: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # The reference validator's outcome for the sealed file, made by the producer when it sealed
    # it and authenticated by the registry's key (services/sealing_record.py); None: none kept.
    sealing_record: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    certificate: Mapped[Certificate] = relationship(back_populates="versions")
    seal: Mapped[Seal] = relationship()


class AuditEvent(Base):
    """Append-only log; each entry carries the hash of the previous one."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column()
    actor_client_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor_department_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome: Mapped[str] = mapped_column(String(40))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64), unique=True)
