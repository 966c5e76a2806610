"""Changing a licence's state and making new versions of it: suspend, resume, revoke, cancel, amend, reissue."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, IssuerOrOperator, RequestId
from certsvc.api.derived import derive, many
from certsvc.domain.status import LicenceAction
from certsvc.domain.status_reasons import ReasonCategory
from certsvc.services.lifecycle import (
    AmendRequest,
    LifecycleResult,
    LifecycleService,
    StatusChangeInfo,
)

__all__ = ["LifecycleRead", "ReasonBody", "StatusChangeRead", "router"]

router = APIRouter(prefix="/api/v1/certificates", tags=["lifecycle"])


class ReasonBody(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "锡市监处字〔2026〕18号 行政处罚决定"}]})

    reason: str = Field(min_length=1, max_length=500, description="why, e.g. 行政处罚决定书文号")
    category: ReasonCategory = Field(
        default=ReasonCategory.OTHER,
        description="the kind of reason; the public verification page shows it (never the reason's text)",
    )


LifecycleRead = derive(
    LifecycleResult,
    "LifecycleRead",
    describe={
        "identifier": "the licence's current identifier after the action",
        "status": "the effective status after the action",
        "version": "the current registry revision",
        "sha256": "SHA-256 of the current version's sealed file",
    },
)
StatusChangeRead = derive(
    StatusChangeInfo,
    "StatusChangeRead",
    describe={"category": "the kind of reason: what the public page may say about why"},
)


def _status_route(action: LicenceAction) -> None:
    def change(
        identifier: str, body: ReasonBody, ctx: ContextDep, principal: IssuerOrOperator, rid: RequestId
    ) -> LifecycleResult:
        result = LifecycleService(ctx).change_status(
            identifier, action, reason=body.reason, principal=principal, request_id=rid, category=body.category
        )
        return result

    change.__name__ = f"{action.value}_certificate"
    change.__doc__ = f"{action.value.capitalize()} a licence (409 illegal_transition when its state does not allow it)."
    router.post(f"/{{identifier}}/{action.value}", response_model=LifecycleRead)(change)


for _action in (LicenceAction.SUSPEND, LicenceAction.RESUME, LicenceAction.REVOKE, LicenceAction.CANCEL):
    _status_route(_action)


@router.post("/{identifier}/amend", response_model=LifecycleRead)
async def amend_certificate(
    identifier: str, body: AmendRequest, ctx: ContextDep, principal: IssuerOrOperator, rid: RequestId
) -> LifecycleResult:
    """变更: a new version with the changes and the next version number; the old one is superseded."""
    result = await run_in_threadpool(
        LifecycleService(ctx).amend, identifier, body, principal=principal, request_id=rid
    )
    return result


@router.post("/{identifier}/reissue", response_model=LifecycleRead)
async def reissue_certificate(
    identifier: str, body: ReasonBody, ctx: ContextDep, principal: IssuerOrOperator, rid: RequestId
) -> LifecycleResult:
    """补发: the same data sealed again as a new version with the next version number."""
    result = await run_in_threadpool(
        LifecycleService(ctx).reissue, identifier, reason=body.reason, principal=principal, request_id=rid
    )
    return result


@router.get("/{identifier}/history", response_model=many(StatusChangeRead))
def certificate_history(
    identifier: str, ctx: ContextDep, principal: IssuerOrOperator, rid: RequestId
) -> list[StatusChangeInfo]:
    """Every state change and new version of the licence, oldest first."""
    return LifecycleService(ctx).history(identifier, principal=principal, request_id=rid)
