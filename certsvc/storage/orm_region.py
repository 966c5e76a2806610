"""Tables of the region's registers: where departments sit, and the matters and their materials.

- ``department_places``: a department's level (盟, 旗县, 苏木乡镇, 嘎查村) and its parent, kept
  beside ``departments`` so that the bulk seal provisioning can place a department without
  touching the registry's own table;
- ``matters`` and ``matter_materials``: the register of 政务服务事项, the materials each requires
  and, per material, the licence types (template slugs) that replace it (材料关联).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from certsvc.storage.orm import Base

__all__ = ["DepartmentPlace", "Matter", "MatterMaterial"]


class DepartmentPlace(Base):
    """A department's place in the administrative hierarchy."""

    __tablename__ = "department_places"

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), primary_key=True)
    level: Mapped[str] = mapped_column(String(8))  # DepartmentLevel value
    # The parent by 统一社会信用代码, not by row id: a parent and its children are provisioned by
    # parallel workers, so a child may be placed before its parent row exists.
    parent_code: Mapped[str | None] = mapped_column(String(18), nullable=True, index=True)


class Matter(Base):
    """A 政务服务事项: what an applicant asks for at a window."""

    __tablename__ = "matters"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # 事项编码
    name: Mapped[str] = mapped_column(String(200))  # 事项名称
    # Raised by every change; the audit log keeps each version's whole content.
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime] = mapped_column()

    materials: Mapped[list[MatterMaterial]] = relationship(
        back_populates="matter", order_by="MatterMaterial.seq", cascade="all, delete-orphan"
    )


class MatterMaterial(Base):
    """One material a matter requires, and the licence types that replace it."""

    __tablename__ = "matter_materials"
    __table_args__ = (UniqueConstraint("matter_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    matter_id: Mapped[int] = mapped_column(ForeignKey("matters.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # order in the matter's list of materials
    name: Mapped[str] = mapped_column(String(200))  # 材料名称
    licence_types: Mapped[list[str]] = mapped_column(JSON, default=list)  # template slugs

    matter: Mapped[Matter] = relationship(back_populates="materials")
