"""The range of the integer ids that callers pass in (API paths and bodies, CLI arguments)."""

from __future__ import annotations

__all__ = ["ROW_ID_MAX"]

# PostgreSQL ``integer``, the narrowest id column of the schema (SQLite's INTEGER is 64-bit):
# an id beyond it cannot exist in any supported database, and drivers fail on it before a
# query runs, so the edges refuse it up front.
ROW_ID_MAX = 2**31 - 1
