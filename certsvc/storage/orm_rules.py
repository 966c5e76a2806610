"""Tables of the registry's data rules: which licence types each department may issue."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from certsvc.storage.orm import Base

__all__ = ["DepartmentLicenceType"]


class DepartmentLicenceType(Base):
    """A licence type (template slug) a department is allowed to issue."""

    __tablename__ = "department_licence_types"

    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), primary_key=True)
    template: Mapped[str] = mapped_column(String(64), primary_key=True)
    granted_at: Mapped[datetime] = mapped_column()
