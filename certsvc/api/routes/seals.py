"""Seal coverage for operators (电子印章应发尽发): a table as JSON and a chart as PNG."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, OperatorPrincipal
from certsvc.api.derived import derive
from certsvc.services.seal_coverage import (
    CoverageReport,
    CoverageRow,
    ExpiringSeal,
    SealCoverageService,
    UncoveredDepartment,
)

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/seals", tags=["seal coverage"])

ExpiringDays = Annotated[int, Query(ge=0, le=3650, description="list seals whose validity ends within this many days")]


# The service's computed properties (without_valid_seal, share_covered) are answered too.
CoverageRowRead = derive(
    CoverageRow,
    "CoverageRowRead",
    describe={"level": "盟 | 旗县 | 苏木乡镇 | 嘎查村 | 未定 (not placed)"},
    add={"without_valid_seal": (int, ...)},
)
UncoveredRead = derive(UncoveredDepartment, "UncoveredRead")
ExpiringRead = derive(ExpiringSeal, "ExpiringRead")
CoverageRead = derive(
    CoverageReport,
    "CoverageRead",
    describe={"rows": "by level (top down) and area", "expiring": "soonest first"},
    add={"without_valid_seal": (int, ...), "share_covered": (float, ...)},
)


@router.get("/coverage", response_model=CoverageRead)
def coverage(ctx: ContextDep, principal: OperatorPrincipal, expiring_days: ExpiringDays = 90) -> CoverageReport:
    """Departments with and without a valid seal, by level and area; seals expiring soon."""
    return SealCoverageService(ctx).report(principal=principal, expiring_days=expiring_days)


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
