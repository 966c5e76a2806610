"""Receiving departments (``sharing`` role): query with the holder's authorization, check, download."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from certsvc.api.deps import ContextDep, RequestId, SharingPrincipal
from certsvc.api.derived import derive, many, to_api
from certsvc.api.downloads import file_response
from certsvc.services.holders import UsageView
from certsvc.services.sharing import CheckAnswer, QueryAnswer, SharedLicence, SharingService

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/sharing", tags=["sharing"])


class SharingQuery(BaseModel):
    holder_id_type: str = Field(max_length=20, description="uscc | resident_id (or GB/T 36903 001 | 111)")
    holder_id: str = Field(max_length=18)
    licence_type: str = Field(max_length=64, description="template slug or 证照类型代码")
    authorization_code: str = Field(max_length=20)
    application_no: str = Field(max_length=64, description="办件编号")
    reason: str = Field(max_length=200, description="申请事由 (GB/T 36906 useCause)")
    matter_code: str | None = Field(
        default=None, max_length=64, description="事项编码 of the application: counts the materials waived per matter"
    )


class SharingCheck(BaseModel):
    holder_id_type: str = Field(max_length=20)
    holder_id: str = Field(max_length=18)
    identifier: str = Field(max_length=130, description="电子证照标识 the department was told")
    licence_type: str = Field(max_length=64)
    application_no: str = Field(max_length=64)
    reason: str = Field(max_length=200)


SharedLicenceRead = derive(
    SharedLicence,
    "SharedLicenceRead",
    exclude={"download"},  # its token is answered as a URL of this service
    add={"download_url": (str, ...), "download_expires_at": (datetime, ...)},
)
SharingQueryRead = derive(QueryAnswer, "SharingQueryRead")
SharingCheckRead = derive(CheckAnswer, "SharingCheckRead")
# The calling department's own records: its code would be the same in every row.
UsageExportRead = derive(UsageView, "UsageExportRead", exclude={"department_code"})


@router.post("/query", response_model=SharingQueryRead)
def query(body: SharingQuery, request: Request, ctx: ContextDep, principal: SharingPrincipal, rid: RequestId) -> dict[str, Any]:
    """The holder's valid licences of a type, with a short-lived download link each."""
    answer = SharingService(ctx).query(principal, request_id=rid, **body.model_dump())
    base = str(request.base_url).rstrip("/")
    licences = [
        {
            **to_api(s),
            "download_url": f"{base}/api/v1/sharing/files/{s.download.token}",
            "download_expires_at": s.download.expires_at,
        }
        for s in answer.licences
    ]
    return {**to_api(answer), "licences": licences}


@router.post("/check", response_model=SharingCheckRead)
def check(body: SharingCheck, ctx: ContextDep, principal: SharingPrincipal, rid: RequestId) -> CheckAnswer:
    """核验: whether the data match a valid licence; the licence itself is not returned."""
    return SharingService(ctx).check(principal, request_id=rid, **body.model_dump())


@router.get(
    "/files/{token}",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the signed licence PDF"}},
)
def download(token: str, ctx: ContextDep, principal: SharingPrincipal, rid: RequestId) -> Response:
    """The signed file behind a download link from a query (same client, before it expires)."""
    download = SharingService(ctx).download(principal, token, request_id=rid)
    return file_response(
        download, media_type="application/pdf", filename=f"{download.name}.pdf", headers={"Cache-Control": "no-store"}
    )


@router.get(
    "/usage",
    response_model=many(UsageExportRead),
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON, or CSV with format=csv"}},
)
def usage_export(
    ctx: ContextDep,
    principal: SharingPrincipal,
    since: Annotated[datetime | None, Query()] = None,
    until: Annotated[datetime | None, Query()] = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Any:
    """The calling department's own usage records, as JSON or CSV."""
    rows = SharingService(ctx).usage_export(principal, since=since, until=until)
    if format == "json":
        return rows
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(UsageExportRead.model_fields))
    writer.writeheader()
    for row in rows:
        writer.writerow(UsageExportRead.model_validate(row, from_attributes=True).model_dump(mode="json"))
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8")
