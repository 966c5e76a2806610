"""The programme figures (operator role)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from certsvc.api.deps import ContextDep, OperatorPrincipal
from certsvc.api.derived import derive, to_api
from certsvc.services.matter_materials import MaterialFigures, MatterFigures
from certsvc.services.stats import LicenceCount, StatsReport, StatsService, UseCount

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


LicenceCountRead = derive(LicenceCount, "LicenceCountRead", describe={"status": "effective status today"})
UseCountRead = derive(
    UseCount,
    "UseCountRead",
    describe={"department_code": "the receiving department", "operation": "query | check | download | holder_sign_in | withdraw"},
)
MaterialFiguresRead = derive(MaterialFigures, "MaterialFiguresRead")
MatterFiguresRead = derive(
    MatterFigures,
    "MatterFiguresRead",
    describe={
        "waivable": "materials a licence type can replace",
        "waived": "applications in which a delivered licence replaced a material, summed",
    },
)
StatsRead = derive(
    StatsReport,
    "StatsRead",
    describe={
        "materials_waived": "licences delivered through sharing queries (each replaces a paper copy)",
        "valid_licences_used": "valid licences queried or checked at least once",
        "applications_served": "distinct (department, application number) with a successful use",
    },
    add={"share_valid_licences_used": (float, Field(description="valid_licences_used / valid_licences, 4 decimals"))},
)


@router.get("", response_model=StatsRead)
def stats(ctx: ContextDep, principal: OperatorPrincipal) -> dict[str, Any]:
    report = StatsService(ctx).report(principal)
    return {**to_api(report), "share_valid_licences_used": round(report.share_used, 4)}
