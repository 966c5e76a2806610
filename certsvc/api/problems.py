"""Every refusal in the OpenAPI document: RFC 9457 ``application/problem+json``, per route.

``api/errors.py`` answers every error as a problem document; this makes the OpenAPI document
say so, route by route, so that a client generator (and schemathesis in the tests) knows each
status a route can answer and what its body looks like. Which statuses a route can give follows
from what it is: who may call it (``deps.access_rule``), whether it takes parameters or a body,
and whether it changes state.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, Field

from certsvc.api.deps import access_rule
from certsvc.api.errors import PROBLEM_JSON

__all__ = ["Problem", "document_problems", "is_public", "problem_statuses"]

_DESCRIPTIONS = {
    400: "Bad request (a stable `code` says why)",
    401: "No API key or holder token, or one that is not valid",
    403: "The caller's role may not do this",
    404: "Not found (another department's licence is also a 404)",
    409: "Conflicts with the current state (an illegal transition, an existing name, a reused idempotency key)",
    413: "The request body is too large",
    422: "The request is not valid (every problem listed in `errors`)",
    429: "Too many requests from this address; see Retry-After",
    503: "A key or secret this needs is not available (not provisioned, or cannot be decrypted)",
}
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class Problem(BaseModel):
    """RFC 9457 problem details, with certsvc's stable ``code``."""

    type: str = Field(examples=["urn:certsvc:problem:validation_failed"])
    title: str
    status: int
    code: str = Field(description="stable, machine-readable; never renamed once released")
    errors: list[Any] | dict[str, Any] | None = Field(
        default=None, description="details: e.g. one entry per invalid field"
    )
    existing_identifier: str | None = Field(
        default=None,
        description="duplicate_licence_number: the licence that holds the number (amend or reissue it)",
    )


_SCHEME = "bearerAuth"
_BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "csk_<key id>_<secret> API key, or a holder's OpenID Connect ID token (JWT)",
    "description": "`Authorization: Bearer <key>`. Departments and operators get an API key from "
    "`certsvc client add` (shown once); holder routes (`/api/v1/holder/...`) take the identity "
    "provider's token instead.",
}


def is_public(route: APIRoute) -> bool:
    """Whether anyone may call ``route`` without a key."""
    rule = access_rule(route)
    return rule is None or rule.is_public


def problem_statuses(route: APIRoute) -> list[int]:
    """The error statuses ``route`` can answer."""
    is_public_route = is_public(route)
    methods = route.methods or set()
    takes_input = bool(
        route.dependant.path_params or route.dependant.query_params or methods & _WRITES
    )
    statuses = {400, 422, 503}
    statuses |= {429} if is_public_route else {401, 403}
    if takes_input:
        statuses.add(404)
    if methods & _WRITES:
        statuses |= {409, 413}
    return sorted(statuses)


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.name for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _description(route: APIRoute, status: int) -> str:
    query = _query_names(route.dependant)
    if status == 400 and "cursor" in query:
        return _DESCRIPTIONS[400] + "; `invalid_cursor`: a `cursor` this service did not give out"
    return _DESCRIPTIONS[status]


def document_problems(app: FastAPI) -> None:
    """Make ``app.openapi()`` list each route's problem responses (built once, like FastAPI's)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        components = document.setdefault("components", {})
        components["securitySchemes"] = {_SCHEME: _BEARER}
        schemas = components.setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        ref = {"$ref": "#/components/schemas/Problem"}
        # Included routers stay wrappers in app.routes; iter_route_contexts unfolds them into
        # the routes as mounted, with their effective paths.
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if not isinstance(route, APIRoute) or not route.include_in_schema:
                continue
            path = document["paths"].get(context.path, {})
            for method in route.methods or ():
                operation = path.get(method.lower())
                if operation is None:
                    continue
                if not is_public(route):
                    operation["security"] = [{_SCHEME: []}]
                responses = operation.setdefault("responses", {})
                for status in problem_statuses(route):
                    responses[str(status)] = {
                        "description": _description(route, status),
                        "content": {PROBLEM_JSON: {"schema": ref}},
                    }
        # FastAPI's own 422 schemas are replaced by Problem above.
        for unused in ("HTTPValidationError", "ValidationError"):
            schemas.pop(unused, None)
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
