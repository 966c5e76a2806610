"""PUBLIC (no API key): verify a scanned licence QR code, as text or as a photo of the code."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from certsvc.api.deps import ContextDep, public
from certsvc.api.ratelimit import public_rate_limit
from certsvc.api.schemas import VerificationRead
from certsvc.api.uploads import read_limited_body
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


class QrClaimsRead(BaseModel):
    """What the QR payload states (holder masked); present only when the payload could be parsed."""

    identifier: str
    licence_name: str | None
    kid: str | None
    issued_on: date
    valid_from: date
    valid_until: date
    holder_name_masked: str
    holder_id_masked: str
    data_digest: str


class QrVerificationRead(VerificationRead):
    """The report of ``POST /api/v1/verify``, plus the payload's claims."""

    qr: QrClaimsRead | None = None

    @classmethod
    def of_qr(cls, result: QrVerification) -> QrVerificationRead:
        base = VerificationRead.of(result.report)
        claims = result.claims
        qr = (
            QrClaimsRead(
                identifier=claims.identifier,
                licence_name=result.licence_name,
                kid=result.kid,
                issued_on=claims.issued_on,
                valid_from=claims.valid_from,
                valid_until=claims.valid_until,
                holder_name_masked=claims.holder_name_masked,
                holder_id_masked=claims.holder_id_masked,
                data_digest=claims.data_digest.hex(),
            )
            if claims is not None
            else None
        )
        return cls(**base.model_dump(), qr=qr)


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
async def verify_qr(request: Request, ctx: ContextDep) -> QrVerificationRead:
    """Verify a licence QR code: its signed payload, the signing key, and the registry's status."""
    text, image = await scanned_input(request, ctx.settings.max_upload_bytes)
    service = QrService(ctx)
    if image is not None:
        result = await run_in_threadpool(service.verify_image, image)
    else:
        assert text is not None
        result = await run_in_threadpool(service.verify_text, text)
    return QrVerificationRead.of_qr(result)
