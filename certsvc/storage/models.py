"""Imports every ORM module so that the metadata (and Alembic's autogenerate) sees all tables.

Each feature keeps its tables in its own ``orm_<feature>.py`` beside ``orm.py``; add one import
line here when you add such a module.
"""

from __future__ import annotations

from certsvc.storage import (
    orm,
    orm_batch,
    orm_connector,
    orm_lifecycle,
    orm_ltv,
    orm_ofd,
    orm_region,
    orm_revocation,
    orm_rules,
    orm_sharing,
)
from certsvc.storage.orm import Base

__all__ = [
    "Base",
    "orm",
    "orm_batch",
    "orm_connector",
    "orm_lifecycle",
    "orm_ltv",
    "orm_ofd",
    "orm_region",
    "orm_revocation",
    "orm_rules",
    "orm_sharing",
]
