"""The register of 政务服务事项 and their materials (材料关联).

Operators change it; every key with a role reads it; the window's question — which materials a
licence replaces for this holder — is the ``sharing`` role's, since it can name the holder's
licences (only under the holder's authorization).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, OperatorPrincipal, RequestId, SharingPrincipal, allow
from certsvc.api.derived import derive, many
from certsvc.api.pagination import PAGINATED, PageDep, send_page
from certsvc.api.uploads import read_limited_body
from certsvc.errors import BadRequestError
from certsvc.services.matter_materials import (
    HolderLicence,
    MaterialAnswer,
    MaterialsAnswer,
    MatterMaterialsService,
    WaivingType,
)
from certsvc.services.matter_register import (
    LoadReport,
    MaterialSpec,
    MatterInfo,
    MatterRegisterService,
    MatterVersion,
)
from certsvc.services.principals import Principal, Role

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/matters", tags=["matters and materials"])

AnyRole = Annotated[Principal, Depends(allow(Role.OPERATOR, Role.ISSUER, Role.SHARING))]
_MAX_UPLOAD = 5 * 1024 * 1024
_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class MaterialBody(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="材料名称")
    licence_types: list[str] = Field(
        default_factory=list, max_length=20, description="template slugs, 证照类型代码 or licence names that replace it"
    )


class MatterPut(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="事项名称")
    materials: list[MaterialBody] = Field(max_length=200)


MaterialRead = derive(
    MaterialSpec, "MaterialRead", describe={"name": "材料名称", "licence_types": "template slugs that replace it; empty: not waivable"}
)
MatterRead = derive(MatterInfo, "MatterRead")
MatterVersionRead = derive(
    MatterVersion, "MatterVersionRead", describe={"at": "ISO time of the change", "action": "matter.put | matter.delete"}
)
LoadReportRead = derive(LoadReport, "LoadReportRead", describe={"is_applied": "false: a dry run"})
WaivingTypeRead = derive(WaivingType, "WaivingTypeRead")
HolderLicenceRead = derive(HolderLicence, "HolderLicenceRead", describe={"valid_until": "ISO date"})
MaterialAnswerRead = derive(
    MaterialAnswer,
    "MaterialAnswerRead",
    describe={"is_authorized": "the holder authorized this department for one of the types"},
    add={"would_be_waived": (bool, Field(description="the holder has a licence in scope that replaces it"))},
)
MaterialsRead = derive(MaterialsAnswer, "MaterialsRead")


@router.get("", response_model=many(MatterRead), responses=PAGINATED)
def list_matters(
    request: Request, response: Response, ctx: ContextDep, principal: AnyRole, page: PageDep
) -> list[MatterInfo]:
    """The register in registration order, a page at a time (``Link``/``X-Next-Cursor``)."""
    return send_page(MatterRegisterService(ctx).page(page, principal=principal), request, response)


@router.post("/import", response_model=LoadReportRead)
async def import_register(
    request: Request,
    ctx: ContextDep,
    principal: OperatorPrincipal,
    execute: Annotated[bool, Query(description="apply; without it a dry run")] = False,
) -> LoadReport:
    """Load a register file (CSV or XLSX body): a dry run unless ``execute=true``."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in ("text/csv", _XLSX):
        raise BadRequestError(f"send the register as text/csv or {_XLSX}", code="unsupported_file_type")
    body = await read_limited_body(request, _MAX_UPLOAD)
    suffix = ".xlsx" if content_type == _XLSX else ".csv"
    return await run_in_threadpool(_load, ctx, body, suffix, principal, execute)


def _load(ctx: ContextDep, body: bytes, suffix: str, principal: Principal, execute: bool) -> LoadReport:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"register{suffix}"
        path.write_bytes(body)
        return MatterRegisterService(ctx).load(path, principal=principal, execute=execute, filename=f"upload{suffix}")


@router.get("/{code}", response_model=MatterRead)
def get_matter(code: str, ctx: ContextDep, principal: AnyRole) -> MatterInfo:
    return MatterRegisterService(ctx).get(code, principal=principal)


@router.put("/{code}", response_model=MatterRead)
def put_matter(code: str, body: MatterPut, ctx: ContextDep, principal: OperatorPrincipal) -> MatterInfo:
    """Register a matter or replace its materials (a new version, audited)."""
    materials = [MaterialSpec(m.name, tuple(m.licence_types)) for m in body.materials]
    return MatterRegisterService(ctx).put(code, name=body.name, materials=materials, principal=principal)


@router.delete("/{code}", status_code=204)
def delete_matter(code: str, ctx: ContextDep, principal: OperatorPrincipal) -> Response:
    MatterRegisterService(ctx).delete(code, principal=principal)
    return Response(status_code=204)


@router.get("/{code}/history", response_model=many(MatterVersionRead))
def matter_history(code: str, ctx: ContextDep, principal: OperatorPrincipal) -> list[MatterVersion]:
    """Every version of the matter, from the audit log."""
    return MatterRegisterService(ctx).history(code, principal=principal)


@router.get("/{code}/materials", response_model=MaterialsRead)
def matter_materials(
    code: str,
    ctx: ContextDep,
    principal: SharingPrincipal,
    rid: RequestId,
    holder_id: Annotated[str | None, Query(max_length=18, description="the applicant's USCC or ID number")] = None,
    holder_id_type: Annotated[str | None, Query(max_length=20, description="uscc | resident_id; guessed when absent")] = None,
    application_no: Annotated[str | None, Query(max_length=64, description="办件编号: only authorizations for it")] = None,
) -> MaterialsAnswer:
    """Per material: waivable, by which licence types, and the holder's licences in scope."""
    return MatterMaterialsService(ctx).materials(
        code, principal=principal, holder_id=holder_id, holder_id_type=holder_id_type,
        application_no=application_no, request_id=rid,
    )
