"""Request dependencies: the service context, the caller and its access rule, the request id.

Every route declares who may call it, in one of two ways, and ``tests/api/test_authorization.py``
fails for any route that declares neither:

    principal: Annotated[Principal, Depends(allow(Role.ISSUER, Role.OPERATOR))]   # or an alias below
    @router.get("/path", dependencies=[Depends(public)])                          # anyone, no key

(a router may also carry the rule for all its routes: ``APIRouter(dependencies=[Depends(public)])``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from certsvc.services.authorization import authorize
from certsvc.services.context import ServiceContext
from certsvc.services.principals import Principal, Role

__all__ = [
    "AccessRule",
    "ContextDep",
    "IssuerOrOperator",
    "IssuerPrincipal",
    "OperatorPrincipal",
    "RequestId",
    "SharingPrincipal",
    "access_rule",
    "allow",
    "get_context",
    "holder_token_only",
    "hub_member_credential",
    "public",
    "request_id",
]

_RULE_ATTRIBUTE = "__certsvc_access_rule__"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class AccessRule:
    """Who may call a route: anyone (``is_public``), or a key with one of ``roles``."""

    roles: frozenset[Role]
    is_public: bool = False


def get_context(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


ContextDep = Annotated[ServiceContext, Depends(get_context)]


def request_id(request: Request) -> str:
    rid: str = request.state.request_id
    return rid


RequestId = Annotated[str, Depends(request_id)]


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def allow(*roles: Role) -> Callable[[Request, ServiceContext, str], Principal]:
    """A dependency: the authenticated caller, if its role is one of ``roles`` (else 401/403, audited)."""
    if not roles:
        raise ValueError("allow() needs at least one role; use `public` for open routes")
    allowed = frozenset(roles)

    def dependency(request: Request, ctx: ContextDep, rid: RequestId) -> Principal:
        return authorize(
            ctx,
            _bearer(request),
            roles=allowed,
            target=f"{request.method} {request.url.path}",
            request_id=rid,
        )

    setattr(dependency, _RULE_ATTRIBUTE, AccessRule(roles=allowed))
    dependency.__name__ = "allow_" + "_".join(sorted(r.value for r in allowed))
    return dependency


def holder_token_only(dependency: Callable[..., T]) -> Callable[..., T]:
    """Declare that ``dependency`` admits holders by identity token and no API-key role at all
    (an API key gets 403); the dependency checks the token itself."""
    setattr(dependency, _RULE_ATTRIBUTE, AccessRule(roles=frozenset()))
    return dependency


def hub_member_credential(request: Request) -> str | None:
    """The bearer token of a route that admits registered 盟 deployments by their hub credential
    (``chm_...``) and no API-key role at all; the hub service checks the credential itself."""
    return _bearer(request)


setattr(hub_member_credential, _RULE_ATTRIBUTE, AccessRule(roles=frozenset()))


def public() -> None:
    """A dependency that marks a route as open to anyone without a key (verification, public pages)."""


setattr(public, _RULE_ATTRIBUTE, AccessRule(roles=frozenset(), is_public=True))


def _rules(dependant: Dependant) -> list[AccessRule]:
    found: list[AccessRule] = []
    rule = getattr(dependant.call, _RULE_ATTRIBUTE, None)
    if isinstance(rule, AccessRule):
        found.append(rule)
    for sub in dependant.dependencies:
        found.extend(_rules(sub))
    return found


def access_rule(route: APIRoute) -> AccessRule | None:
    """The rule a route declares (None: it declares none, which the authorization test refuses).

    Several ``allow`` dependencies on one route intersect: a caller needs to pass each.
    """
    rules = _rules(route.dependant)
    if not rules:
        return None
    restricted = [r for r in rules if not r.is_public]
    if not restricted:
        return AccessRule(roles=frozenset(), is_public=True)
    roles = frozenset(Role)
    for r in restricted:
        roles &= r.roles
    return AccessRule(roles=roles)


IssuerPrincipal = Annotated[Principal, Depends(allow(Role.ISSUER))]
OperatorPrincipal = Annotated[Principal, Depends(allow(Role.OPERATOR))]
SharingPrincipal = Annotated[Principal, Depends(allow(Role.SHARING))]
IssuerOrOperator = Annotated[Principal, Depends(allow(Role.ISSUER, Role.OPERATOR))]
