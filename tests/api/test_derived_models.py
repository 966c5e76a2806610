"""Response models are derived from the service value types, never re-listed by hand.

A response model that repeats most of a service dataclass's fields is a second copy that drifts
(a field added to the service never reaches the API, or reaches it under another type). Every
model the app answers with is found from its routes; one that shares its fields with a service
dataclass must have been made by ``certsvc.api.derived.derive`` from that dataclass.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
import typing
from datetime import datetime
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

import certsvc.domain
import certsvc.jobs
import certsvc.services
from certsvc.api.app import create_app
from certsvc.api.derived import derive, source_of
from certsvc.api.routes import ROUTERS
from certsvc.api.routes import hub as hub_routes
from certsvc.services.context import ServiceContext
from certsvc.services.webhook_admin import AttemptInfo, DeliveryInfo


def _service_dataclasses() -> list[type]:
    found = []
    for package in (certsvc.services, certsvc.domain, certsvc.jobs):
        for module_info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            module = importlib.import_module(module_info.name)
            for value in vars(module).values():
                if inspect.isclass(value) and dataclasses.is_dataclass(value) and value.__module__ == module.__name__:
                    found.append(value)
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _response_models() -> set[type[BaseModel]]:
    """Every model reachable from a route's response_model (the hub's too), nested ones included."""
    routes = [route for router in (*ROUTERS, hub_routes.router) for route in router.routes]
    pending = [m for route in routes if isinstance(route, APIRoute) for m in _models_in(route.response_model)]
    seen: set[type[BaseModel]] = set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for field in model.model_fields.values():
            pending.extend(_models_in(field.annotation))
    return seen


def _copies(model: type[BaseModel], dataclass_types: list[type]) -> list[type]:
    """The service types whose fields ``model`` repeats: at least three of theirs, most of its own."""
    own = set(model.model_fields)
    return [
        dc
        for dc in dataclass_types
        if len(common := own & {f.name for f in dataclasses.fields(dc)}) >= 3 and len(common) >= 0.6 * len(own)
    ]


def test_no_response_model_re_lists_a_service_type() -> None:
    dataclass_types = _service_dataclasses()
    models = _response_models()
    assert len(models) > 40  # the walk reached the app's models, nested ones too
    hand_written = {
        f"{model.__module__}.{model.__name__} repeats {', '.join(dc.__name__ for dc in copies)}"
        for model in models
        if (copies := _copies(model, dataclass_types)) and source_of(model) is None
    }
    assert not hand_written, "derive these with certsvc.api.derived.derive: " + "; ".join(sorted(hand_written))


def test_the_check_catches_a_hand_written_copy() -> None:
    class AttemptCopy(BaseModel):
        attempt: int
        at: datetime
        http_status: int | None
        error: str | None
        duration_ms: int
        is_success: bool

    assert _copies(AttemptCopy, _service_dataclasses()) == [AttemptInfo]
    assert source_of(AttemptCopy) is None


def test_a_derived_model_follows_its_service_type() -> None:
    # A field added to the service type appears in the API without a second edit.
    @dataclasses.dataclass(frozen=True)
    class Widened(AttemptInfo):
        retry_after: int | None = None

    model = derive(Widened, "WidenedRead", describe={"retry_after": "seconds the receiver asked for"})
    assert list(model.model_fields) == [f.name for f in dataclasses.fields(Widened)]
    assert source_of(model) is Widened
    schema = model.model_json_schema()
    assert schema["properties"]["retry_after"]["description"] == "seconds the receiver asked for"
    assert set(schema["required"]) == set(model.model_fields)


def test_nested_service_types_become_their_derived_models(embedded: ServiceContext) -> None:
    document = create_app(embedded).openapi()
    delivery = document["components"]["schemas"]["DeliveryRead"]
    # DeliveryInfo.attempt_log is a tuple of AttemptInfo: a list of AttemptRead in the API.
    assert delivery["properties"]["attempt_log"] == {"type": "array", "items": {"$ref": "#/components/schemas/AttemptRead"}, "title": "Attempt Log"}
    assert set(delivery["required"]) == {f.name for f in dataclasses.fields(DeliveryInfo)}
    # The descriptions given at the edge reach the document.
    assert "every attempt used" in delivery["properties"]["status"]["description"]
    seal = document["components"]["schemas"]["SealRead"]
    assert "key_store" not in seal["properties"]  # excluded: the deployment's business


def test_a_derived_model_refuses_an_unknown_field_name() -> None:
    with pytest.raises(ValueError, match="no field"):
        derive(AttemptInfo, "Misspelt", describe={"http_stauts": "typo"})
