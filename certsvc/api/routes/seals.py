"""Seal coverage for operators (电子印章应发尽发): a table as JSON and a chart as PNG."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, OperatorPrincipal
from certsvc.services.seal_coverage import CoverageReport, SealCoverageService

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/seals", tags=["seal coverage"])

ExpiringDays = Annotated[
    int, Query(ge=0, le=3650, description="list seals whose validity ends within this many days")
]


class CoverageRowRead(BaseModel):
    level: str = Field(description="盟 | 旗县 | 苏木乡镇 | 嘎查村 | 未定 (not placed)")
    area_code: str
    departments: int
    with_valid_seal: int
    without_valid_seal: int


class UncoveredRead(BaseModel):
    code: str
    name: str
    level: str
    area_code: str
    parent_code: str | None


class ExpiringRead(BaseModel):
    seal_id: int
    department_code: str
    department_name: str
    purpose: str
    valid_until: datetime
    days_left: int


class CoverageRead(BaseModel):
    generated_at: datetime
    expiring_days: int
    departments: int
    with_valid_seal: int
    without_valid_seal: int
    share_covered: float
    rows: list[CoverageRowRead]
    uncovered: list[UncoveredRead]
    expiring: list[ExpiringRead]

    @classmethod
    def of(cls, report: CoverageReport) -> CoverageRead:
        return cls.model_validate(report, from_attributes=True)


@router.get("/coverage", response_model=CoverageRead)
def coverage(
    ctx: ContextDep, principal: OperatorPrincipal, expiring_days: ExpiringDays = 90
) -> CoverageRead:
    """Departments with and without a valid seal, by level and area; seals expiring soon."""
    return CoverageRead.of(
        SealCoverageService(ctx).report(principal=principal, expiring_days=expiring_days)
    )


@router.get(
    "/coverage.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "stacked bars per level"}},
)
async def coverage_chart(ctx: ContextDep, principal: OperatorPrincipal) -> Response:
    """The coverage as a chart: departments with and without a valid seal per level."""
    service = SealCoverageService(ctx)
    report = await run_in_threadpool(service.report, principal=principal)
    return Response(await run_in_threadpool(service.chart, report), media_type="image/png")
