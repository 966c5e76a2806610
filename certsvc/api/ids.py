"""Integer ids a caller sends: bounded to what every supported database can hold.

An id the database cannot even represent (SQLite INTEGER is 64-bit, PostgreSQL ``integer``
32-bit) makes the driver raise before the query runs; no such row can exist, so the request is
refused at the edge (422 ``validation_failed``) instead of failing inside the driver (500).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import Field

from certsvc.domain.ids import ROW_ID_MAX

__all__ = ["ROW_ID_MAX", "RowId", "RowIdField"]

RowId = Annotated[int, Path(ge=1, le=ROW_ID_MAX, description="a row id (1 to 2147483647)")]
RowIdField = Annotated[int, Field(ge=1, le=ROW_ID_MAX)]
