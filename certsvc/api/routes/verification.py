"""Public verification of a licence file."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, public
from certsvc.api.ratelimit import public_rate_limit
from certsvc.api.schemas import VerificationRead
from certsvc.api.uploads import uploaded_pdf
from certsvc.services.verification import VerificationService

__all__ = ["router"]

router = APIRouter(prefix="/api/v1", tags=["verification"])


@router.post(
    "/verify",
    dependencies=[Depends(public), Depends(public_rate_limit)],
    response_model=VerificationRead,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "application/ofd": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                },
            }
        }
    },
)
async def verify(request: Request, ctx: ContextDep) -> VerificationRead:
    """Verify a licence PDF or OFD (told apart by content): seals, changes after sealing, trust,
    and the registry's view."""
    data = await uploaded_pdf(request, ctx.settings.max_upload_bytes)
    report = await run_in_threadpool(VerificationService(ctx).verify_file, data)
    return VerificationRead.of(report)
