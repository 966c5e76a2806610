"""The one way every list answers: a JSON array of one page, the next page named in headers.

    GET /api/v1/certificates?limit=50                → 200, [ ...50 items ]
        Link: </api/v1/certificates?limit=50&cursor=YzE6MTIz>; rel="next"
        X-Next-Cursor: YzE6MTIz
    GET /api/v1/certificates?limit=50&cursor=YzE6MTIz → the next 50; no Link on the last page

The body stays a plain array (clients that read the first page need no change); ``Link`` is
RFC 8288's, which generic HTTP clients follow by themselves.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import Depends, Query, Request, Response

from certsvc.domain.paging import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page, PageRequest

__all__ = ["PAGINATED", "PageDep", "page_request", "send_page"]

T = TypeVar("T")

# The 200 answer's headers, for ``responses=PAGINATED`` on a list route (OpenAPI).
PAGINATED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": 'one page; the next one is named by `Link: <…>; rel="next"` and `X-Next-Cursor`',
        "headers": {
            "Link": {
                "description": "RFC 8288 link to the next page (absent on the last page)",
                "schema": {"type": "string"},
            },
            "X-Next-Cursor": {
                "description": "the `cursor` of the next page (absent on the last page)",
                "schema": {"type": "string"},
            },
        },
    }
}


def page_request(
    limit: Annotated[
        int, Query(ge=1, le=MAX_PAGE_SIZE, description="items per page")
    ] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None,
        Query(
            max_length=64,
            description="from the previous page's `X-Next-Cursor`; absent: first page",
        ),
    ] = None,
) -> PageRequest:
    """Raises: InvalidCursorError (400 ``invalid_cursor``): a cursor this service did not give out."""
    return PageRequest.of(limit=limit, cursor=cursor)


PageDep = Annotated[PageRequest, Depends(page_request)]


def send_page(page: Page[T], request: Request, response: Response) -> list[T]:
    """The page's items as the body; ``Link`` and ``X-Next-Cursor`` when there is a next page."""
    if page.next_cursor is not None:
        url = request.url.include_query_params(cursor=page.next_cursor)
        response.headers["Link"] = f'<{url}>; rel="next"'
        response.headers["X-Next-Cursor"] = page.next_cursor
    return list(page.items)
