"""The hub's routes (mounted only with ``CERTSVC_ROLE=hub``): members deliver, anyone verifies,
receiving departments query every member's licences (docs/region.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, allow, hub_member_credential, public
from certsvc.api.derived import derive, many
from certsvc.api.downloads import file_response
from certsvc.api.ratelimit import public_rate_limit
from certsvc.api.schemas import VerificationRead
from certsvc.api.uploads import read_limited_body, uploaded_pdf
from certsvc.services.hub import HubService, ReceivedDelivery
from certsvc.services.hub_queries import HubLicenceInfo, HubQueries, HubVerification, LicenceQuery
from certsvc.services.principals import Principal, Role

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/hub", tags=["hub"])

HubReader = Annotated[Principal, Depends(allow(Role.SHARING, Role.OPERATOR))]
UseCause = Annotated[str, Query(min_length=1, max_length=200, description="申请事由: why the licence is looked at (recorded)")]


DeliveryReceipt = derive(ReceivedDelivery, "DeliveryReceipt")
HubLicenceRead = derive(HubLicenceInfo, "HubLicenceRead", describe={"member": "the 盟 deployment that delivered it"})
HubVerificationRead = derive(
    HubVerification,
    "HubVerificationRead",
    retype={"report": VerificationRead},
    describe={"member": "the member that delivered the file (null: none did)"},
)


@router.post("/deliveries", response_model=DeliveryReceipt)
async def receive_delivery(
    request: Request, ctx: ContextDep, credential: Annotated[str | None, Depends(hub_member_credential)]
) -> ReceivedDelivery:
    """A member delivers one change of one licence; a repeated delivery id is answered, not applied."""
    body = await read_limited_body(request, ctx.settings.max_upload_bytes * 2)
    received = await run_in_threadpool(HubService(ctx).receive, credential, body)
    return received


@router.post("/verify", dependencies=[Depends(public), Depends(public_rate_limit)], response_model=HubVerificationRead)
async def verify_at_hub(request: Request, ctx: ContextDep) -> HubVerification:
    """Verify a licence file any member delivered: its seals against that member's roots, the
    hub's copy of its status, the 盟 issuer and which deployment delivered it."""
    data = await uploaded_pdf(request, ctx.settings.max_upload_bytes)
    return await run_in_threadpool(HubQueries(ctx).verify, data)


@router.get("/licences", response_model=many(HubLicenceRead))
def search_licences(
    ctx: ContextDep,
    principal: HubReader,
    use_cause: UseCause,
    holder_code: Annotated[str | None, Query(max_length=18)] = None,
    type_code: Annotated[str | None, Query(max_length=21)] = None,
    issuer_code: Annotated[str | None, Query(max_length=18)] = None,
    member: Annotated[str | None, Query(max_length=60)] = None,
) -> list[HubLicenceInfo]:
    """GB/T 36906-style query over every member's licences (at least one criterion)."""
    query = LicenceQuery(holder_code=holder_code, type_code=type_code, issuer_code=issuer_code, member=member)
    return HubQueries(ctx).search(query, principal=principal, use_cause=use_cause)


@router.get("/licences/{identifier}", response_model=HubLicenceRead)
def get_licence(identifier: str, ctx: ContextDep, principal: HubReader, use_cause: UseCause) -> HubLicenceInfo:
    """The hub's copy of one licence, by any delivered version's identifier."""
    return HubQueries(ctx).licence(identifier, principal=principal, use_cause=use_cause)


@router.get(
    "/licences/{identifier}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the file as its member sealed it"}},
)
def get_licence_file(identifier: str, ctx: ContextDep, principal: HubReader, use_cause: UseCause) -> Response:
    """The current version's file, with its original seals."""
    download = HubQueries(ctx).file(identifier, principal=principal, use_cause=use_cause)
    return file_response(download, media_type="application/pdf", filename=download.name)


@router.get(
    "/licences/{identifier}/ofd",
    response_class=Response,
    responses={
        200: {
            "content": {"application/ofd": {}},
            "description": "the version's OFD as its member sealed it (GB/T 38540 seal)",
        }
    },
)
def get_licence_ofd(identifier: str, ctx: ContextDep, principal: HubReader, use_cause: UseCause) -> Response:
    """The current version's OFD, with its original seal (404 ``no_ofd`` when it has none)."""
    download = HubQueries(ctx).file(identifier, principal=principal, use_cause=use_cause, ofd=True)
    return file_response(download, media_type="application/ofd", filename=download.name)
