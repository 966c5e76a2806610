"""The one table from certsvc errors to HTTP problem details (RFC 9457)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from certsvc import errors as e
from certsvc.api.web.rate_limited import rate_limited_page, wants_html
from certsvc.metrics import ERRORS

__all__ = ["STATUS_BY_ERROR", "install_error_handlers", "problem_response"]

_log = logging.getLogger("certsvc.api")

PROBLEM_JSON = "application/problem+json"

# Most specific first: the first matching class decides the status.
STATUS_BY_ERROR: tuple[tuple[type[e.CertsvcError], int], ...] = (
    (e.DocumentTooLargeError, 413),
    (e.InvalidDocumentError, 422),
    (e.ValidationFailedError, 422),
    (e.InvalidHolderIdError, 422),
    (e.UnknownTemplateError, 422),
    (e.BadRequestError, 400),
    (e.AuthenticationError, 401),
    (e.PermissionDeniedError, 403),
    (e.NotFoundError, 404),
    (e.ConflictError, 409),
    (e.KeyUnavailableError, 503),
    (e.NotReadyError, 503),
    (e.TimeStampUnavailableError, 503),
    (e.CertsvcError, 500),
)


def problem_response(
    status: int,
    code: str,
    title: str,
    *,
    detail: Any = None,
    headers: dict[str, str] | None = None,
    extensions: dict[str, str] | None = None,
) -> JSONResponse:
    # Extension members never replace the standard ones.
    body: dict[str, Any] = dict(extensions or {})
    body.update(
        {"type": f"urn:certsvc:problem:{code}", "title": title, "status": status, "code": code}
    )
    if detail is not None:
        body["errors"] = detail
    ERRORS.labels(status=str(status), code=code).inc()
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _status_for(exc: e.CertsvcError) -> int:
    return next(status for cls, status in STATUS_BY_ERROR if isinstance(exc, cls))


async def _certsvc_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, e.CertsvcError)
    status = _status_for(exc)
    if status >= 500:
        _log.error("request failed: %s (%s)", exc.code, exc.message, exc_info=exc.__cause__ or exc)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return problem_response(
        status,
        exc.code,
        exc.message,
        detail=exc.details,
        headers=headers,
        extensions=exc.extensions,
    )


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [
        {
            "field": ".".join(str(p) for p in err["loc"] if p != "body") or "body",
            "problem": str(err["msg"]),
        }
        for err in exc.errors()
    ]
    return problem_response(422, "validation_failed", "the request is not valid", detail=problems)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 429 and wants_html(request):
        return rate_limited_page(request, getattr(exc, "headers", None))
    code = {404: "not_found", 405: "method_not_allowed", 429: "rate_limited"}.get(
        exc.status_code, "http_error"
    )
    return problem_response(
        exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None)
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Never leak a traceback or a path to the caller; the log has it.
    _log.exception("unexpected error")
    return problem_response(
        500, "internal_error", "an unexpected error occurred; it has been logged"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(e.CertsvcError, _certsvc_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
