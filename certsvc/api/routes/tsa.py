"""The built-in time-stamping authority over HTTP (RFC 3161 §3.4), for ``timestamping`` clients."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, allow
from certsvc.errors import BadRequestError, DocumentTooLargeError
from certsvc.services.principals import Role
from certsvc.services.timestamping import MAX_TIMESTAMP_REQUEST_BYTES

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["time-stamping"])

_QUERY = "application/timestamp-query"
_REPLY = "application/timestamp-reply"


@router.post(
    "/tsa",
    dependencies=[Depends(allow(Role.TIMESTAMPING))],
    response_class=Response,
    responses={
        200: {"content": {_REPLY: {}}, "description": "a DER TimeStampResp (granted or rejection)"}
    },
    openapi_extra={
        "requestBody": {"content": {_QUERY: {"schema": {"type": "string", "format": "binary"}}}}
    },
)
async def timestamp(request: Request, ctx: ContextDep) -> Response:
    """Answer a DER TimeStampReq. A request the TSA cannot grant (unknown digest, other policy,
    damaged DER) is still HTTP 200 with an RFC 3161 rejection, as RFC 3161 clients expect."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != _QUERY:
        raise BadRequestError(f"send the request as {_QUERY}", code="unsupported_media_type")
    body = await request.body()
    if len(body) > MAX_TIMESTAMP_REQUEST_BYTES:
        raise DocumentTooLargeError(
            "a time-stamp request is at most 4096 bytes",
            details={"limit": MAX_TIMESTAMP_REQUEST_BYTES},
        )
    answer = await run_in_threadpool(ctx.built_in_tsa().respond, body)
    return Response(content=answer, media_type=_REPLY)
