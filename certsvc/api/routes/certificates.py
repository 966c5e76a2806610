"""Issuing and reading licences."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Header, Query, Request, Response
from pydantic import AwareDatetime

from certsvc.api.deps import ContextDep, IssuerOrOperator, IssuerPrincipal, RequestId
from certsvc.api.derived import many
from certsvc.api.downloads import file_response
from certsvc.api.ids import ROW_ID_MAX
from certsvc.api.pagination import PAGINATED, PageDep, send_page
from certsvc.api.schemas import (
    CertificateIssued,
    CertificateRead,
    certificate_issued,
    certificate_read,
)
from certsvc.domain.status import LicenceStatus
from certsvc.services.issuance import IssuanceService
from certsvc.services.registry import CertificateFilter, FileVariant, RegistryService
from certsvc.services.requests import ISSUE_REQUEST_EXAMPLE, IssueRequest

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/certificates", tags=["certificates"])


def _api_base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


@router.post(
    "",
    status_code=201,
    response_model=CertificateIssued,
    openapi_extra={"requestBody": {"content": {"application/json": {"example": ISSUE_REQUEST_EXAMPLE}}}},
)
def issue_certificate(
    body: IssueRequest,
    request: Request,
    response: Response,
    ctx: ContextDep,
    principal: IssuerPrincipal,
    rid: RequestId,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """Issue a licence: render it from the template, seal it, register it."""
    issued = IssuanceService(ctx).issue(body, principal=principal, idempotency_key=idempotency_key, request_id=rid)
    if issued.is_replay:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/v1/certificates/{issued.identifier}"
    return certificate_issued(issued, api_base=_api_base(request), public_url=ctx.settings.public_url)


@router.get("", response_model=many(CertificateRead), responses=PAGINATED)
def list_certificates(
    request: Request,
    response: Response,
    ctx: ContextDep,
    principal: IssuerOrOperator,
    rid: RequestId,
    page: PageDep,
    status: Annotated[LicenceStatus | None, Query(description="the status as read today (expired is computed)")] = None,
    template: Annotated[str | None, Query(max_length=64, description="template slug, e.g. food-business")] = None,
    holder_id: Annotated[str | None, Query(max_length=18, description="统一社会信用代码 or 居民身份证号码")] = None,
    licence_number: Annotated[str | None, Query(max_length=64, description="the printed 许可证编号")] = None,
    issued_from: Annotated[AwareDatetime | None, Query(description="issued at or after (with a time zone)")] = None,
    issued_until: Annotated[AwareDatetime | None, Query(description="issued before (with a time zone)")] = None,
    department: Annotated[str | None, Query(max_length=18, description="operators: one department's code")] = None,
) -> list[dict[str, Any]]:
    """The department's licences, newest first, one page at a time (operators see every department's)."""
    where = CertificateFilter(
        status=status,
        template=template,
        holder_id=holder_id,
        licence_number=licence_number,
        issued_from=issued_from,
        issued_until=issued_until,
        department_code=department,
    )
    found = RegistryService(ctx).search(where, principal=principal, page=page, request_id=rid)
    api_base, public_url = _api_base(request), ctx.settings.public_url
    return send_page(found.map(lambda info: certificate_read(info, api_base=api_base, public_url=public_url)), request, response)


@router.get("/{identifier}", response_model=CertificateRead)
def get_certificate(
    identifier: str, request: Request, ctx: ContextDep, principal: IssuerOrOperator, rid: RequestId
) -> dict[str, Any]:
    info = RegistryService(ctx).get(identifier, principal=principal, request_id=rid)
    return certificate_read(info, api_base=_api_base(request), public_url=ctx.settings.public_url)


@router.get(
    "/{identifier}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the signed (or print) PDF"}},
)
def get_certificate_pdf(
    identifier: str,
    ctx: ContextDep,
    principal: IssuerOrOperator,
    rid: RequestId,
    variant: Annotated[FileVariant, Query()] = FileVariant.ELECTRONIC,
    revision: Annotated[int | None, Query(ge=1, le=ROW_ID_MAX, description="an earlier registry revision (default: newest)")] = None,
) -> Response:
    """The signed PDF (or the print copy) of a licence; ``revision`` fetches an earlier one."""
    download = RegistryService(ctx).file(
        identifier, principal=principal, variant=variant, revision=revision, request_id=rid
    )
    suffix = "" if variant is FileVariant.ELECTRONIC else "-print"
    return file_response(download, media_type="application/pdf", filename=f"{download.name}{suffix}.pdf")


@router.get(
    "/{identifier}/ofd",
    response_class=Response,
    responses={
        200: {"content": {"application/ofd": {}}, "description": "the sealed OFD (GB/T 33190, GB/T 38540 seal)"},
        409: {
            "description": "ofd_needs_sm2_seal: the version was sealed with an ECDSA or RSA seal, so it has no OFD",
            "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
        },
    },
)
def get_certificate_ofd(
    identifier: str,
    ctx: ContextDep,
    principal: IssuerOrOperator,
    rid: RequestId,
    revision: Annotated[int | None, Query(ge=1, le=ROW_ID_MAX, description="an earlier registry revision (default: newest)")] = None,
) -> Response:
    """The sealed OFD of a licence (SM2 seals only: otherwise 409 ``ofd_needs_sm2_seal``)."""
    download = RegistryService(ctx).ofd_file(identifier, principal=principal, revision=revision, request_id=rid)
    return file_response(download, media_type="application/ofd", filename=f"{download.name}.ofd")


@router.get(
    "/{identifier}/seal-signature",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}, "description": "DER GB/T 38540 SES_Signature"}},
)
def get_seal_signature(identifier: str, ctx: ContextDep, principal: IssuerOrOperator, rid: RequestId) -> Response:
    """The GB/T 38540 electronic seal signature (SES_Signature, DER) made with an SM2 seal."""
    der = RegistryService(ctx).seal_signature(identifier, principal=principal, request_id=rid)
    return Response(
        der,
        media_type="application/octet-stream",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(identifier)}.ses"},
    )
