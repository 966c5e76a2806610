"""Request dependencies: the service context, the caller, the request id."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, authenticate

__all__ = ["ContextDep", "CurrentPrincipal", "RequestId", "current_principal", "get_context", "request_id"]


def get_context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[ServiceContext, Depends(get_context)]


def request_id(request: Request) -> str:
    rid: str = request.state.request_id
    return rid


RequestId = Annotated[str, Depends(request_id)]


def current_principal(request: Request, ctx: ContextDep) -> Principal:
    """The authenticated API client (``Authorization: Bearer <key>``), or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    with ctx.database.transaction() as session:
        return authenticate(session, token.strip() if scheme.lower() == "bearer" else None, now=ctx.clock.now())


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]
