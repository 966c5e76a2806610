"""PUBLIC (no API key): the licence catalogue (GB/T 36902 目录信息).

Public because applicants and receiving departments need to know which licence types exist and
who issues them before they hold any key; it carries no personal data (see
``services/catalogue.py``). One entry per installed template, so the list is short and unpaged.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import create_model
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, public
from certsvc.api.derived import derive, many
from certsvc.api.ratelimit import public_rate_limit
from certsvc.services.catalogue import CatalogueDepartment, CatalogueService, CatalogueType

__all__ = ["public_router"]

public_router = APIRouter(
    prefix="/api/v1/catalogue", tags=["public: licence catalogue"], dependencies=[Depends(public), Depends(public_rate_limit)]
)


CatalogueDepartmentRead = derive(CatalogueDepartment, "CatalogueDepartmentRead", describe={"code": "统一社会信用代码"})

CatalogueTypeRead = derive(
    CatalogueType,
    "CatalogueTypeRead",
    describe={
        "type_code": "证照类型代码 (GB/T 36904)",
        "name": "证照名称",
        "template": "the template slug certsvc issues it with",
        "definer_code": "证照定义机构代码: the type code's first 18 characters",
        "definer_name": "证照定义机构",
        "holder_kinds": "uscc | resident_id",
        "holder_kind_codes": "GB/T 36903 持证主体代码类型: 001 | 111",
        "validity_kind": "term | long_term | per_licence",
        "validity_years": "term: the usual number of years (the end given when a request names none)",
        "validity_max_years": "term: the longest allowed, when longer than the usual term",
        "departments": "the departments allowed to issue it",
        "template_version": "digest of the template's files",
    },
)

CatalogueRead = create_model("CatalogueRead", types=(many(CatalogueTypeRead), ...))


@public_router.get("", response_model=CatalogueRead)
async def catalogue(ctx: ContextDep) -> dict[str, list[CatalogueType]]:
    """Every licence type certsvc issues."""
    return {"types": await run_in_threadpool(CatalogueService(ctx).types)}


@public_router.get("/{licence_type}", response_model=CatalogueTypeRead)
async def catalogue_type(licence_type: str, ctx: ContextDep) -> CatalogueType:
    """One licence type, by 证照类型代码 or template slug."""
    return await run_in_threadpool(CatalogueService(ctx).type, licence_type)
