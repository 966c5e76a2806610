"""Receiving departments (``sharing`` role): query with the holder's authorization, check, download."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from certsvc.api.deps import ContextDep, RequestId, SharingPrincipal
from certsvc.services.sharing import SharingService

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/sharing", tags=["sharing"])


class SharingQuery(BaseModel):
    holder_id_type: str = Field(
        max_length=20, description="uscc | resident_id (or GB/T 36903 001 | 111)"
    )
    holder_id: str = Field(max_length=18)
    licence_type: str = Field(max_length=64, description="template slug or 证照类型代码")
    authorization_code: str = Field(max_length=20)
    application_no: str = Field(max_length=64, description="办件编号")
    reason: str = Field(max_length=200, description="申请事由 (GB/T 36906 useCause)")
    matter_code: str | None = Field(
        default=None,
        max_length=64,
        description="事项编码 of the application: counts the materials waived per matter",
    )


class SharingCheck(BaseModel):
    holder_id_type: str = Field(max_length=20)
    holder_id: str = Field(max_length=18)
    identifier: str = Field(max_length=130, description="电子证照标识 the department was told")
    licence_type: str = Field(max_length=64)
    application_no: str = Field(max_length=64)
    reason: str = Field(max_length=200)


class SharedLicenceRead(BaseModel):
    identifier: str
    template: str
    licence_name: str
    type_code: str
    department_code: str
    department_name: str
    holder_name: str
    holder_id_type: str
    holder_id: str
    fields: dict[str, Any]
    status: str
    valid_from: date
    valid_until: date
    issued_at: datetime
    sha256: str
    download_url: str
    download_expires_at: datetime
    usage_record_id: int


class SharingQueryRead(BaseModel):
    authorization_code: str
    licences: list[SharedLicenceRead]


class SharingCheckRead(BaseModel):
    is_match: bool
    usage_record_id: int


class UsageExportRead(BaseModel):
    id: int
    at: datetime
    operation: str
    result: str
    client_name: str | None
    holder_id_type: str | None
    holder_id: str | None
    certificate_identifier: str | None
    type_code: str | None
    application_no: str | None
    reason: str | None
    audit_event_id: int | None


@router.post("/query", response_model=SharingQueryRead)
def query(
    body: SharingQuery,
    request: Request,
    ctx: ContextDep,
    principal: SharingPrincipal,
    rid: RequestId,
) -> SharingQueryRead:
    """The holder's valid licences of a type, with a short-lived download link each."""
    answer = SharingService(ctx).query(principal, request_id=rid, **body.model_dump())
    base = str(request.base_url).rstrip("/")
    licences = []
    for s in answer.licences:
        data = {k: getattr(s, k) for k in SharedLicenceRead.model_fields if hasattr(s, k)}
        licences.append(
            SharedLicenceRead(
                **data,
                download_url=f"{base}/api/v1/sharing/files/{s.download.token}",
                download_expires_at=s.download.expires_at,
            )
        )
    return SharingQueryRead(authorization_code=answer.authorization_code, licences=licences)


@router.post("/check", response_model=SharingCheckRead)
def check(
    body: SharingCheck, ctx: ContextDep, principal: SharingPrincipal, rid: RequestId
) -> SharingCheckRead:
    """核验: whether the data match a valid licence; the licence itself is not returned."""
    answer = SharingService(ctx).check(principal, request_id=rid, **body.model_dump())
    return SharingCheckRead(is_match=answer.is_match, usage_record_id=answer.usage_record_id)


@router.get(
    "/files/{token}",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the signed licence PDF"}},
)
def download(token: str, ctx: ContextDep, principal: SharingPrincipal, rid: RequestId) -> Response:
    """The signed file behind a download link from a query (same client, before it expires)."""
    name, data = SharingService(ctx).download(principal, token, request_id=rid)
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}.pdf",
            "Cache-Control": "no-store",
        },
    )


@router.get(
    "/usage",
    response_model=list[UsageExportRead],
    responses={
        200: {
            "content": {"text/csv": {"schema": {"type": "string"}}},
            "description": "JSON, or CSV with format=csv",
        }
    },
)
def usage_export(
    ctx: ContextDep,
    principal: SharingPrincipal,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    """The calling department's own usage records, as JSON or CSV."""
    rows = [
        UsageExportRead(**{k: getattr(u, k) for k in UsageExportRead.model_fields})
        for u in SharingService(ctx).usage_export(principal, since=since, until=until)
    ]
    if format == "json":
        return rows
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(UsageExportRead.model_fields))
    writer.writeheader()
    for row in rows:
        writer.writerow(row.model_dump(mode="json"))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
