"""Tables of material-waiver sharing: holders' authorizations, usage records, seen token ids."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from certsvc.storage.orm import Base

__all__ = ["HolderTokenUse", "SharingAuthorization", "UsageRecord"]


class SharingAuthorization(Base):
    """A holder's consent: one receiving department may use one licence type or one licence."""

    __tablename__ = "sharing_authorizations"
    __table_args__ = (Index("ix_sharing_authorizations_holder", "holder_id_type", "holder_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)  # short code read out at a window
    holder_id_type: Mapped[str] = mapped_column(String(20))
    holder_id: Mapped[str] = mapped_column(String(18))
    department_id: Mapped[int] = mapped_column(
        ForeignKey("departments.id"), index=True
    )  # the receiver
    type_code: Mapped[str] = mapped_column(String(21))  # 证照类型代码 covered
    template: Mapped[str] = mapped_column(String(64))
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"), nullable=True)
    application_no: Mapped[str] = mapped_column(String(64))  # 办件编号 the consent is for
    purpose: Mapped[str] = mapped_column(String(200))
    is_single_use: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    withdrawn_at: Mapped[datetime | None] = mapped_column(nullable=True)
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)  # first successful use
    use_count: Mapped[int] = mapped_column(Integer, default=0)


class UsageRecord(Base):
    """用证留痕: one query, check or download by a receiving department, successful or refused."""

    __tablename__ = "sharing_usage_records"
    __table_args__ = (Index("ix_sharing_usage_records_holder", "holder_id_type", "holder_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    operation: Mapped[str] = mapped_column(String(20))  # query | check | download | holder_sign_in
    result: Mapped[str] = mapped_column(String(50))  # ok | match | no_match | <refusal code>
    department_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    department_code: Mapped[str | None] = mapped_column(String(18), nullable=True)
    client_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    client_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    holder_id_type: Mapped[str | None] = mapped_column(String(20), nullable=True)
    holder_id: Mapped[str | None] = mapped_column(String(18), nullable=True)
    authorization_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    certificate_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    certificate_identifier: Mapped[str | None] = mapped_column(String(130), nullable=True)
    type_code: Mapped[str | None] = mapped_column(String(21), nullable=True)
    application_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The 政务服务事项 the application is for, when the department names it: what lets the
    # programme figures count the materials waived per matter.
    matter_code: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)  # useCause (GB/T 36906)
    request_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    audit_event_id: Mapped[int | None] = mapped_column(
        Integer, nullable=True
    )  # its entry in the chain


class HolderTokenUse(Base):
    """Token ids (``jti``) already spent on a consent change, kept until the token expires."""

    __tablename__ = "holder_token_uses"

    id: Mapped[int] = mapped_column(primary_key=True)
    jti_sha256: Mapped[str] = mapped_column(String(64), unique=True)  # of issuer + jti
    used_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)
