"""PUBLIC (no API key): what the seal CAs publish for relying parties, the CRL and OCSP.

The URLs are the ones written into every seal certificate (CRL distribution points and the
authority information access), so a verifier anywhere can learn of a revocation.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, public
from certsvc.api.ratelimit import public_rate_limit
from certsvc.errors import BadRequestError, DocumentTooLargeError
from certsvc.services.revocation import RevocationService

__all__ = ["public_router"]

public_router = APIRouter(
    prefix="/pki",
    tags=["public: revocation"],
    dependencies=[Depends(public), Depends(public_rate_limit)],
)

_MAX_OCSP_REQUEST_BYTES = 8192


@public_router.get(
    "/{family}/crl",
    response_class=Response,
    responses={200: {"content": {"application/pkix-crl": {}}}},
)
async def crl(family: str, ctx: ContextDep) -> Response:
    """The seal CA's current CRL (DER), freshly signed; ``family`` is ``ecdsa`` or ``sm2``."""
    body = await run_in_threadpool(RevocationService(ctx).crl, family)
    return Response(
        content=body, media_type="application/pkix-crl", headers={"Cache-Control": "max-age=300"}
    )


@public_router.post(
    "/{family}/ocsp",
    response_class=Response,
    responses={200: {"content": {"application/ocsp-response": {}}}},
    openapi_extra={
        "requestBody": {
            "content": {
                "application/ocsp-request": {"schema": {"type": "string", "format": "binary"}}
            }
        }
    },
)
async def ocsp(family: str, request: Request, ctx: ContextDep) -> Response:
    """An OCSP answer (RFC 6960) from the ECDSA seal CA; an unreadable or foreign request gets
    the OCSP error status (malformedRequest / unauthorized), as OCSP clients expect."""
    if (
        request.headers.get("content-type", "").split(";")[0].strip().lower()
        != "application/ocsp-request"
    ):
        raise BadRequestError(
            "send the request as application/ocsp-request", code="unsupported_media_type"
        )
    body = await request.body()
    if len(body) > _MAX_OCSP_REQUEST_BYTES:
        raise DocumentTooLargeError(
            "an OCSP request is at most 8192 bytes", details={"limit": _MAX_OCSP_REQUEST_BYTES}
        )
    answer = await run_in_threadpool(RevocationService(ctx).ocsp, family, body)
    return Response(content=answer, media_type="application/ocsp-response")
