"""The programme figures (operator role)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from certsvc.api.deps import ContextDep, OperatorPrincipal
from certsvc.services.stats import StatsService

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])


class LicenceCountRead(BaseModel):
    department_code: str
    department_name: str
    template: str
    status: str
    count: int


class UseCountRead(BaseModel):
    department_code: str | None
    operation: str
    result: str
    count: int


class MaterialFiguresRead(BaseModel):
    name: str
    is_waivable: bool
    waived: int


class MatterFiguresRead(BaseModel):
    code: str
    name: str
    materials: int
    waivable: int = Field(description="materials a licence type can replace")
    waived: int = Field(
        description="applications in which a delivered licence replaced a material, summed"
    )
    per_material: list[MaterialFiguresRead]


class StatsRead(BaseModel):
    generated_at: datetime
    licences: list[LicenceCountRead]
    uses: list[UseCountRead]
    materials_waived: int
    checks_matched: int
    valid_licences: int
    valid_licences_used: int
    share_valid_licences_used: float
    applications_served: int
    matters: list[MatterFiguresRead]


@router.get("", response_model=StatsRead)
def stats(ctx: ContextDep, principal: OperatorPrincipal) -> StatsRead:
    r = StatsService(ctx).report(principal)
    return StatsRead(
        generated_at=r.generated_at,
        licences=[
            LicenceCountRead(**{k: getattr(c, k) for k in LicenceCountRead.model_fields})
            for c in r.licences
        ],
        uses=[
            UseCountRead(**{k: getattr(u, k) for k in UseCountRead.model_fields}) for u in r.uses
        ],
        materials_waived=r.materials_waived,
        checks_matched=r.checks_matched,
        valid_licences=r.valid_licences,
        valid_licences_used=r.valid_licences_used,
        share_valid_licences_used=round(r.share_used, 4),
        applications_served=r.applications_served,
        matters=[MatterFiguresRead.model_validate(m, from_attributes=True) for m in r.matters],
    )
