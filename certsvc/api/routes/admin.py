"""Administration for operators: departments, seals, API clients and the audit log (webhooks: webhooks.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, OperatorPrincipal, RequestId
from certsvc.api.derived import derive, many
from certsvc.api.ids import RowId
from certsvc.api.pagination import PAGINATED, PageDep, send_page
from certsvc.api.uploads import read_limited_body
from certsvc.services.api_clients import ApiClientService, ClientInfo
from certsvc.services.audit import AuditService, ChainReport
from certsvc.services.departments import DepartmentInfo, DepartmentService
from certsvc.services.licence_types import DepartmentLicenceTypes, LicenceTypeService
from certsvc.services.revocation import RevocationInfo, RevocationService
from certsvc.services.seal_admin import SealAdminService, SealInfo

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/admin", tags=["administration"])


class DepartmentCreate(BaseModel):
    code: str = Field(min_length=18, max_length=18, description="统一社会信用代码")
    name: str = Field(min_length=1, max_length=100)
    area_code: str = Field(min_length=6, max_length=6, description="GB/T 2260 行政区划代码")
    name_mn: str | None = Field(default=None, max_length=400, description="the name in traditional Mongolian script")
    is_bilingual: bool | None = Field(
        default=None, description="seals and licences in Mongolian and Chinese; default: area code 15xxxx (内蒙古)"
    )


class DepartmentUpdate(BaseModel):
    name_mn: str | None = Field(default=None, max_length=400, description="the name in traditional Mongolian script")
    is_bilingual: bool | None = None


SealRead = derive(
    SealInfo,
    "SealRead",
    exclude={"key_store"},  # where the key lives is the deployment's business, not the API's
    describe={
        "purpose": "公章, 行政许可专用章 …: a template naming this purpose is sealed with it",
        "is_default": "signs every template that names no seal purpose",
    },
)

DepartmentRead = derive(
    DepartmentInfo,
    "DepartmentRead",
    describe={
        "licence_types": "template slugs the department may issue",
        "warnings": "told to the operator, not refused (a missing Mongolian name)",
    },
)

LicenceTypesRead = derive(DepartmentLicenceTypes, "LicenceTypesRead", describe={"templates": "template slugs, sorted"})


class LicenceTypesChange(BaseModel):
    add: list[str] = Field(default_factory=list, description="template slugs to allow")
    remove: list[str] = Field(default_factory=list, description="template slugs to withdraw")


class SealCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100, description="e.g. 行政审批专用章")
    purpose: str | None = Field(default=None, min_length=1, max_length=100, description="defaults to the name")
    algorithm: str = Field(default="ecdsa-p256", description="rsa-3072 | ecdsa-p256 | sm2")
    validity_days: int = Field(default=1825, ge=1, le=3650)
    name_mn: str | None = Field(default=None, max_length=200, description="the seal's name in Mongolian script")
    ring_layout: str = Field(default="rings", description="rings (Mongolian outer ring) | halves (Mongolian upper half)")
    # Import instead of generating: both PEMs given (certificate first, then its chain).
    key_pem: str | None = None
    certificate_pem: str | None = None
    key_passphrase: str | None = Field(default=None, repr=False)


class ClientCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(description="issuer | operator | sharing")
    department_code: str | None = None
    expires_at: datetime | None = None


ClientRead = derive(ClientInfo, "ClientRead")


class ClientCreated(BaseModel):
    id: int
    api_key: str = Field(description="shown once; only its hash is stored")


@router.post("/departments", status_code=201, response_model=DepartmentRead)
def create_department(body: DepartmentCreate, ctx: ContextDep, principal: OperatorPrincipal) -> DepartmentInfo:
    return (
        DepartmentService(ctx).add_department(
            code=body.code,
            name=body.name,
            area_code=body.area_code,
            name_mn=body.name_mn,
            is_bilingual=body.is_bilingual,
            principal=principal,
        )
    )


@router.patch("/departments/{code}", response_model=DepartmentRead)
def update_department(code: str, body: DepartmentUpdate, ctx: ContextDep, principal: OperatorPrincipal) -> DepartmentInfo:
    """Set the Mongolian name and/or the bilingual setting; absent fields stay as they are."""
    return (
        DepartmentService(ctx).update_department(code, name_mn=body.name_mn, is_bilingual=body.is_bilingual, principal=principal)
    )


@router.get("/departments", response_model=many(DepartmentRead))
def list_departments(ctx: ContextDep, principal: OperatorPrincipal) -> list[DepartmentInfo]:
    return DepartmentService(ctx).list_departments(principal=principal)


@router.get("/departments/{code}", response_model=DepartmentRead)
def show_department(code: str, ctx: ContextDep, principal: OperatorPrincipal) -> DepartmentInfo:
    return DepartmentService(ctx).show_department(code, principal=principal)


@router.post("/departments/{code}/seals", status_code=201, response_model=SealRead)
def create_seal(code: str, body: SealCreate, ctx: ContextDep, principal: OperatorPrincipal) -> SealInfo:
    """Make a seal from the development CA, or import one when ``key_pem`` and ``certificate_pem`` are given."""
    admin = SealAdminService(ctx)
    if body.key_pem or body.certificate_pem:
        seal = admin.import_seal(
            code,
            name=body.name,
            key_pem=(body.key_pem or "").encode(),
            certificate_pem=(body.certificate_pem or "").encode(),
            key_passphrase=body.key_passphrase.encode() if body.key_passphrase else None,
            name_mn=body.name_mn,
            ring_layout=body.ring_layout,
            principal=principal,
            purpose=body.purpose,
        )
    else:
        seal = admin.add_seal(
            code,
            name=body.name,
            algorithm=body.algorithm,
            validity_days=body.validity_days,
            name_mn=body.name_mn,
            ring_layout=body.ring_layout,
            principal=principal,
            purpose=body.purpose,
        )
    return seal


@router.get("/departments/{code}/seals", response_model=many(SealRead), responses=PAGINATED)
def list_seals(
    code: str, request: Request, response: Response, ctx: ContextDep, principal: OperatorPrincipal, page: PageDep
) -> list[SealInfo]:
    return send_page(SealAdminService(ctx).list_seals(code, principal=principal, page=page), request, response)


class SealRevoke(BaseModel):
    reason: str = Field(description="key-compromise, superseded, affiliation-changed, cessation-of-operation or unspecified")
    at: datetime | None = Field(default=None, description="from when the key is not trusted (RFC 5280 invalidityDate); default now")


RevocationRead = derive(RevocationInfo, "RevocationRead")


@router.post("/seals/{seal_id}/revoke", response_model=RevocationRead)
def revoke_seal(seal_id: RowId, body: SealRevoke, ctx: ContextDep, principal: OperatorPrincipal) -> RevocationInfo:
    """Revoke the seal's certificate (published in the seal CA's CRL and OCSP answers). Licences
    time-stamped before ``at`` stay valid; later ones are invalid (docs/ltv.md)."""
    return RevocationService(ctx).revoke_seal(seal_id, reason=body.reason, invalid_from=body.at, principal=principal)


@router.get("/departments/{code}/licence-types", response_model=LicenceTypesRead)
def list_licence_types(code: str, ctx: ContextDep, principal: OperatorPrincipal) -> DepartmentLicenceTypes:
    return LicenceTypeService(ctx).types(code, principal=principal)


@router.patch("/departments/{code}/licence-types", response_model=LicenceTypesRead)
def change_licence_types(
    code: str, body: LicenceTypesChange, ctx: ContextDep, principal: OperatorPrincipal
) -> DepartmentLicenceTypes:
    """Allow (``add``) or withdraw (``remove``) licence types of a department."""
    return LicenceTypeService(ctx).change(code, add=body.add, remove=body.remove, principal=principal)


@router.post("/seals/{seal_id}/default", response_model=SealRead)
def make_default_seal(seal_id: RowId, ctx: ContextDep, principal: OperatorPrincipal) -> SealInfo:
    """Make the seal its department's default (adding a seal never does this by itself)."""
    return SealAdminService(ctx).set_default_seal(seal_id, principal=principal)


@router.post("/seals/{seal_id}/retire", response_model=SealRead)
def retire_seal(seal_id: RowId, ctx: ContextDep, principal: OperatorPrincipal) -> SealInfo:
    return SealAdminService(ctx).retire_seal(seal_id, principal=principal)


@router.put(
    "/seals/{seal_id}/image",
    response_model=SealRead,
    openapi_extra={"requestBody": {"content": {"image/png": {"schema": {"type": "string", "format": "binary"}}}}},
)
async def set_seal_image(seal_id: RowId, request: Request, ctx: ContextDep, principal: OperatorPrincipal) -> SealInfo:
    """Replace the seal's image with an uploaded PNG (transparent background, body ``image/png``)."""
    png = await read_limited_body(request, 2 * 1024 * 1024 + 1)
    return await run_in_threadpool(SealAdminService(ctx).set_seal_image, seal_id, png, principal=principal)


@router.post("/clients", status_code=201, response_model=ClientCreated)
def create_client(body: ClientCreate, ctx: ContextDep, principal: OperatorPrincipal) -> ClientCreated:
    key = ApiClientService(ctx).add_client(
        name=body.name, role=body.role, department_code=body.department_code, expires_at=body.expires_at, principal=principal
    )
    return ClientCreated(id=key.client_id, api_key=key.api_key)


@router.get("/clients", response_model=many(ClientRead), responses=PAGINATED)
def list_clients(
    request: Request,
    response: Response,
    ctx: ContextDep,
    principal: OperatorPrincipal,
    page: PageDep,
    department: Annotated[str | None, Query()] = None,
) -> list[ClientInfo]:
    found = ApiClientService(ctx).list_clients(principal=principal, page=page, department_code=department)
    return send_page(found, request, response)


@router.post("/clients/{client_id}/revoke", response_model=ClientRead)
def revoke_client(client_id: RowId, ctx: ContextDep, principal: OperatorPrincipal) -> ClientInfo:
    return ApiClientService(ctx).revoke_client(client_id, principal=principal)


@router.get("/audit/verify")
def verify_audit(ctx: ContextDep, principal: OperatorPrincipal) -> dict[str, Any]:
    """Walk the audit chain and check the signed checkpoints; names the first entry found wrong."""
    return _report(AuditService(ctx).verify())


@router.post("/audit/checkpoints", status_code=201)
def create_checkpoint(ctx: ContextDep, principal: OperatorPrincipal) -> dict[str, Any]:
    """Sign the audit chain's head now."""
    cp = AuditService(ctx).checkpoint()
    return {"checkpoint": None if cp is None else {"id": cp.id, "at": cp.at, "last_event_id": cp.last_event_id, "head_hash": cp.head_hash, "event_count": cp.event_count}}


@router.get("/audit/events", responses=PAGINATED)
def export_audit(
    request: Request,
    response: Response,
    ctx: ContextDep,
    principal: OperatorPrincipal,
    rid: RequestId,
    page: PageDep,
    start: Annotated[datetime | None, Query(alias="from")] = None,
    end: Annotated[datetime | None, Query(alias="to")] = None,
) -> list[dict[str, Any]]:
    """Audit events with from <= at < to, oldest first, one page at a time (the first page read is itself audited)."""
    return send_page(AuditService(ctx).export(start=start, end=end, actor=principal, page=page, request_id=rid), request, response)


def _report(report: ChainReport) -> dict[str, Any]:
    problem = report.problem
    return {
        "is_intact": report.is_intact,
        "entries": report.entries,
        "head_event_id": report.head_event_id,
        "head_hash": report.head_hash,
        "checkpoints": report.checkpoints,
        "problem": None
        if problem is None
        else {
            "kind": problem.kind.value,
            "event_id": problem.event_id,
            "position": problem.position,
            "checkpoint_id": problem.checkpoint_id,
            "message": problem.message,
        },
    }
