"""Logs a log collector can parse: one JSON object per line, each carrying the request id.

``CERTSVC_LOG_FORMAT=json`` turns it on. The request id (the caller's ``X-Request-ID``, or one
made up, and echoed in the answer) is kept in a context variable for the duration of the
request, so every line certsvc logs while serving it (an error, a refused webhook, the access
line) names it, and an operator finds everything about one failing call with one ``grep``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request, Response

from certsvc.config import Settings

__all__ = [
    "JsonLogFormatter",
    "current_request_id",
    "install_request_logging",
    "uvicorn_log_config",
]

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "certsvc_request_id", default=None
)
_access = logging.getLogger("certsvc.access")
# LogRecord attributes that are not extra fields a caller passed.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "request_id",
}


def current_request_id() -> str | None:
    """The id of the request being served in this context, if any."""
    return _request_id.get()


class JsonLogFormatter(logging.Formatter):
    """``{"at", "level", "logger", "message", "request_id", ...extra, "exception"}`` per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or _request_id.get(),
        }
        entry.update(
            {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}
        )
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def uvicorn_log_config(settings: Settings) -> dict[str, Any] | None:
    """uvicorn's ``log_config`` for the settings: None keeps uvicorn's own text format."""
    if settings.log_format != "json":
        return None
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonLogFormatter"}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": "INFO"},
        # certsvc.access replaces uvicorn's access line (it has the route and the request id).
        "loggers": {
            "uvicorn": {"level": "INFO"},
            "uvicorn.access": {"level": "WARNING"},
        },
    }


def _request_id_of(request: Request) -> str:
    incoming = request.headers.get("x-request-id", "")
    return incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex


def install_request_logging(app: FastAPI, settings: Settings) -> None:
    """Give every request its id (``request.state.request_id``, the ``X-Request-ID`` answer
    header, every log line), and in JSON mode log one access line per request."""
    log_access = settings.log_format == "json"

    @app.middleware("http")
    async def _with_request_id(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        rid = _request_id_of(request)
        request.state.request_id = rid
        token = _request_id.set(rid)
        started = time.perf_counter()
        try:
            response = await call_next(request)
            response.headers["X-Request-ID"] = rid
            if log_access:
                route = request.scope.get("route")
                _access.info(
                    "%s %s %d",
                    request.method,
                    request.url.path,
                    response.status_code,
                    extra={
                        "method": request.method,
                        "path": request.url.path,
                        "route": getattr(route, "path", None),
                        "status": response.status_code,
                        "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                        "client": request.client.host if request.client else None,
                    },
                )
            return response
        finally:
            _request_id.reset(token)
