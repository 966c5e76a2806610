"""Public verification of a licence file."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, public
from certsvc.api.ratelimit import public_rate_limit
from certsvc.api.schemas import VerificationRead
from certsvc.api.uploads import uploaded_pdf
from certsvc.domain.reports import VerificationReport
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
                    "schema": {
                        "type": "object",
                        "properties": {"file": {"type": "string", "format": "binary"}},
                    }
                },
            }
        }
    },
)
async def verify(
    request: Request,
    ctx: ContextDep,
    at: Annotated[
        datetime | None,
        Query(
            description="validate the signatures as of this instant (ISO 8601 with zone), e.g. a future date"
        ),
    ] = None,
) -> VerificationReport:
    """Verify a licence PDF or OFD (told apart by content): seals, changes after sealing, trust,
    and the registry's view; ``at`` validates the seals as of another instant (docs/ltv.md)."""
    data = await uploaded_pdf(request, ctx.settings.max_upload_bytes)
    moment = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
    report = await run_in_threadpool(lambda: VerificationService(ctx).verify_file(data, at=moment))
    return report
