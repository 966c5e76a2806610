"""Public verification of a licence file."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from certsvc.api.deps import ContextDep, public
from certsvc.api.ratelimit import public_rate_limit
from certsvc.api.schemas import VerificationRead
from certsvc.errors import BadRequestError, DocumentTooLargeError, InvalidDocumentError
from certsvc.services.verification import VerificationService

__all__ = ["read_limited_body", "router"]

router = APIRouter(prefix="/api/v1", tags=["verification"])


async def read_limited_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing it as soon as it passes ``limit`` (never buffering more)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise DocumentTooLargeError(f"the upload is larger than {limit} bytes", details={"limit": limit})
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise DocumentTooLargeError(f"the upload is larger than {limit} bytes", details={"limit": limit})
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # starlette re-reads a cached body for form parsing
    return body


async def uploaded_pdf(request: Request, limit: int) -> bytes:
    """The PDF from a raw ``application/pdf`` body or from a multipart ``file`` part."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_limited_body(request, limit + 64 * 1024)  # room for multipart framing
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequestError("send the PDF as the multipart field 'file'", code="missing_file")
        data = await upload.read()
    elif content_type in ("application/pdf", "application/octet-stream", ""):
        data = body
    else:
        raise InvalidDocumentError(f"expected application/pdf or multipart/form-data, got {content_type}")
    if len(data) > limit:
        raise DocumentTooLargeError(f"the upload is larger than {limit} bytes", details={"limit": limit})
    if not data:
        raise InvalidDocumentError("the upload is empty")
    return data


@router.post(
    "/verify",
    dependencies=[Depends(public), Depends(public_rate_limit)],
    response_model=VerificationRead,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
                },
            }
        }
    },
)
async def verify(request: Request, ctx: ContextDep) -> VerificationRead:
    """Verify a licence PDF: signatures, changes after signing, trust, and the registry's view."""
    data = await uploaded_pdf(request, ctx.settings.max_upload_bytes)
    report = await run_in_threadpool(VerificationService(ctx).verify_pdf, data)
    return VerificationRead.of(report)
