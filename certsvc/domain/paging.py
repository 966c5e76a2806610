"""Cursor pagination of every list: one page request, one page, one cursor format.

A cursor is the row id the previous page ended on, wrapped so that callers treat it as opaque
(the format may change; a client must only send back what it was given). Rows are read in id
order (keyset pagination): a page never repeats or skips a row when rows are added meanwhile,
and reading page 1000 costs what reading page 1 does.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from certsvc.errors import InvalidCursorError

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "Page",
    "PageRequest",
    "decode_cursor",
    "encode_cursor",
    "every_item",
]

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
_PREFIX = "c1:"
_MAX_ID = 2**63 - 1

T = TypeVar("T")
U = TypeVar("U")


def encode_cursor(after_id: int) -> str:
    """The opaque cursor of the page that starts after row ``after_id``."""
    return base64.urlsafe_b64encode(f"{_PREFIX}{after_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The row id a cursor from :func:`encode_cursor` continues after.

    Raises:
        InvalidCursorError: not a cursor this service gave out.
    """
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise InvalidCursorError("cursor is not one this service gave out") from exc
    number = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not number.isdigit() or not 0 < int(number) <= _MAX_ID:
        raise InvalidCursorError("cursor is not one this service gave out")
    return int(number)


@dataclass(frozen=True, slots=True)
class PageRequest:
    """``limit`` rows after the row ``after_id`` (None: from the start)."""

    limit: int = DEFAULT_PAGE_SIZE
    after_id: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise ValueError(f"page size must be 1..{MAX_PAGE_SIZE}")

    @classmethod
    def of(cls, *, limit: int = DEFAULT_PAGE_SIZE, cursor: str | None = None) -> PageRequest:
        """Raises: InvalidCursorError: ``cursor`` was not given out by this service."""
        return cls(limit=limit, after_id=decode_cursor(cursor) if cursor else None)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; ``next_cursor`` is None on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None

    @classmethod
    def from_rows(
        cls, rows: Sequence[T], request: PageRequest, *, row_id: Callable[[T], int]
    ) -> Page[T]:
        """Build a page from up to ``limit + 1`` rows read in order (the extra row says there is more)."""
        items = tuple(rows[: request.limit])
        has_more = len(rows) > request.limit
        return cls(items, encode_cursor(row_id(items[-1])) if has_more and items else None)

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        return Page(tuple(convert(item) for item in self.items), self.next_cursor)


def every_item(
    fetch: Callable[[PageRequest], Page[T]], *, page_size: int = MAX_PAGE_SIZE
) -> Iterator[T]:
    """All items of a paginated list, fetched a page at a time as they are consumed (for exports
    and the CLI, which want everything without holding it all at once)."""
    request = PageRequest(limit=page_size)
    while True:
        page = fetch(request)
        yield from page.items
        if page.next_cursor is None:
            return
        request = PageRequest(limit=page_size, after_id=decode_cursor(page.next_cursor))
