"""Reading one page of any query: the keyset step every paginated repository method shares."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from certsvc.domain.paging import Page, PageRequest

__all__ = ["read_page"]

R = TypeVar("R")


def read_page(
    session: Session,
    query: Select[R],
    key: InstrumentedAttribute[int],
    request: PageRequest,
    *,
    newest_first: bool = True,
) -> Page[R]:
    """One page of ``query`` in ``key`` order, after ``request.after_id``.

    ``key`` must be unique and never reused (a primary key): the cursor is its last value.
    """
    if request.after_id is not None:
        query = query.where(key < request.after_id if newest_first else key > request.after_id)
    query = query.order_by(key.desc() if newest_first else key.asc()).limit(request.limit + 1)
    rows = list(session.scalars(query))

    def row_id(row: Any) -> int:
        value: int = getattr(row, key.key)
        return value

    return Page.from_rows(rows, request, row_id=row_id)
