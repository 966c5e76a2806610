"""Reading uploads without ever buffering more than the configured limit."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import UploadFile

from certsvc.errors import BadRequestError, DocumentTooLargeError, InvalidDocumentError

__all__ = ["read_limited_body", "uploaded_pdf"]


async def read_limited_body(request: Request, limit: int) -> bytes:
    """Read the body, refusing it as soon as it passes ``limit`` (never buffering more)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise DocumentTooLargeError(
            f"the upload is larger than {limit} bytes", details={"limit": limit}
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise DocumentTooLargeError(
                f"the upload is larger than {limit} bytes", details={"limit": limit}
            )
        chunks.append(chunk)
    body = b"".join(chunks)
    request._body = body  # starlette re-reads a cached body for form parsing
    return body


async def uploaded_pdf(request: Request, limit: int) -> bytes:
    """The licence file (PDF or OFD) from a raw body or from a multipart ``file`` part."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_limited_body(request, limit + 64 * 1024)  # room for multipart framing
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequestError("send the PDF as the multipart field 'file'", code="missing_file")
        data = await upload.read()
    elif content_type in ("application/pdf", "application/ofd", "application/octet-stream", ""):
        data = body
    else:
        raise InvalidDocumentError(
            f"expected application/pdf, application/ofd or multipart/form-data, got {content_type}"
        )
    if len(data) > limit:
        raise DocumentTooLargeError(
            f"the upload is larger than {limit} bytes", details={"limit": limit}
        )
    if not data:
        raise InvalidDocumentError("the upload is empty")
    return data
