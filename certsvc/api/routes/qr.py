"""PUBLIC (no API key): verify a scanned licence QR code, as text or as a photo of the code."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from certsvc.api.deps import ContextDep, public
from certsvc.api.derived import derive, extend, to_api
from certsvc.api.ratelimit import public_rate_limit
from certsvc.api.schemas import VerificationRead
from certsvc.api.uploads import read_limited_body
from certsvc.crypto.qr_payload import QrClaims
from certsvc.errors import BadRequestError, InvalidDocumentError
from certsvc.services.qr import QrService, QrVerification

__all__ = ["QrClaimsRead", "QrVerificationRead", "public_router"]

# Public: anyone holding a licence, or a clerk at a counter, may call it; rate-limited per address.
public_router = APIRouter(
    prefix="/api/v1",
    tags=["public: QR verification"],
    dependencies=[Depends(public), Depends(public_rate_limit)],
)

_IMAGE_TYPES = ("image/png", "image/jpeg", "image/jpg")
_MAX_TEXT_BYTES = 8 * 1024


QrClaimsRead = derive(
    QrClaims,
    "QrClaimsRead",
    retype={"data_digest": str},
    describe={"data_digest": "hex digest of the licence data the payload signs (SHA-256, or SM3 for an SM2 key; docs/qr.md)"},
    add={"licence_name": (str | None, ...), "kid": (str | None, ...)},
    doc="What the QR payload states (holder masked); present only when the payload could be parsed.",
)

QrVerificationRead = extend(
    VerificationRead,
    "QrVerificationRead",
    add={"qr": (QrClaimsRead | None, None)},
    doc="The report of ``POST /api/v1/verify``, plus the payload's claims.",
)


def qr_verification(result: QrVerification) -> dict[str, Any]:
    """The verification report and, when the payload was readable, its claims."""
    claims = result.claims
    qr = (
        {**to_api(claims), "data_digest": claims.data_digest.hex(), "licence_name": result.licence_name, "kid": result.kid}
        if claims is not None
        else None
    )
    return {**to_api(result.report), "qr": qr}


class QrTextCreate(BaseModel):
    text: str


async def scanned_input(request: Request, image_limit: int) -> tuple[str | None, bytes | None]:
    """(text, image) from JSON ``{"text"}``, text/plain, an image body, or multipart ``text``/``file``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_limited_body(request, image_limit + 64 * 1024)
    if content_type == "application/json":
        try:
            return QrTextCreate.model_validate_json(body).text, None
        except ValueError as exc:
            raise BadRequestError('send {"text": "<scanned text>"}', code="missing_text") from exc
    if content_type == "text/plain":
        if len(body) > _MAX_TEXT_BYTES:
            raise BadRequestError("the scanned text is too long")
        return body.decode("utf-8", errors="replace"), None
    if content_type in _IMAGE_TYPES:
        return None, body
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.form()
        upload, text = form.get("file"), form.get("text")
        if isinstance(upload, UploadFile) and upload.filename:
            return None, await upload.read()
        if isinstance(text, str) and text.strip():
            return text, None
        raise BadRequestError(
            "send the field 'text' or an image in the field 'file'", code="missing_file"
        )
    raise InvalidDocumentError(
        f"expected JSON, text/plain, image/png, image/jpeg or multipart, got {content_type}"
    )


@public_router.post(
    "/verify/qr",
    response_model=QrVerificationRead,
    openapi_extra={
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {"type": "object", "properties": {"text": {"type": "string"}}}
                },
                "text/plain": {"schema": {"type": "string"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "text": {"type": "string"},
                            "file": {"type": "string", "format": "binary"},
                        },
                    }
                },
            }
        }
    },
)
async def verify_qr(request: Request, ctx: ContextDep) -> dict[str, Any]:
    """Verify a licence QR code: its signed payload, the signing key, and the registry's status."""
    text, image = await scanned_input(request, ctx.settings.max_upload_bytes)
    service = QrService(ctx)
    if image is not None:
        result = await run_in_threadpool(service.verify_image, image)
    else:
        assert text is not None
        result = await run_in_threadpool(service.verify_text, text)
    return qr_verification(result)
