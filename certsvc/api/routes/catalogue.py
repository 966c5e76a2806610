"""PUBLIC (no API key): the licence catalogue (GB/T 36902 目录信息).

Public because applicants and receiving departments need to know which licence types exist and
who issues them before they hold any key; it carries no personal data (see
``services/catalogue.py``). One entry per installed template, so the list is short and unpaged.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, public
from certsvc.api.ratelimit import public_rate_limit
from certsvc.services.catalogue import CatalogueService, CatalogueType

__all__ = ["public_router"]

public_router = APIRouter(
    prefix="/api/v1/catalogue",
    tags=["public: licence catalogue"],
    dependencies=[Depends(public), Depends(public_rate_limit)],
)


class CatalogueDepartmentRead(BaseModel):
    code: str = Field(description="统一社会信用代码")
    name: str


class CatalogueTypeRead(BaseModel):
    type_code: str = Field(description="证照类型代码 (GB/T 36904)")
    name: str = Field(description="证照名称")
    template: str
    definer_code: str = Field(description="证照定义机构代码: the type code's first 18 characters")
    definer_name: str | None = Field(description="证照定义机构")
    holder_kinds: list[str] = Field(description="uscc | resident_id")
    holder_kind_codes: list[str] = Field(description="GB/T 36903 持证主体代码类型: 001 | 111")
    validity_kind: str | None = Field(description="term | long_term | per_licence")
    validity_years: int | None = Field(
        description="term: the usual number of years (the end given when a request names none)"
    )
    validity_max_years: int | None = Field(
        description="term: the longest allowed, when longer than the usual term"
    )
    validity_basis: str
    departments: list[CatalogueDepartmentRead] = Field(
        description="the departments allowed to issue it"
    )
    template_version: str = Field(description="digest of the template's files")
    has_bilingual_layout: bool

    @classmethod
    def of(cls, entry: CatalogueType) -> CatalogueTypeRead:
        return cls.model_validate(entry, from_attributes=True)


class CatalogueRead(BaseModel):
    types: list[CatalogueTypeRead]


@public_router.get("", response_model=CatalogueRead)
async def catalogue(ctx: ContextDep) -> CatalogueRead:
    """Every licence type certsvc issues."""
    types = await run_in_threadpool(CatalogueService(ctx).types)
    return CatalogueRead(types=[CatalogueTypeRead.of(t) for t in types])


@public_router.get("/{licence_type}", response_model=CatalogueTypeRead)
async def catalogue_type(licence_type: str, ctx: ContextDep) -> CatalogueTypeRead:
    """One licence type, by 证照类型代码 or template slug."""
    return CatalogueTypeRead.of(await run_in_threadpool(CatalogueService(ctx).type, licence_type))
