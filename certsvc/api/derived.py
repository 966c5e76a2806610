"""Response models derived from the service value types, so a field is declared once.

A service answers with a frozen dataclass (``SealInfo``, ``VerificationReport`` …); the API's
response model is made from that dataclass's fields and types, and adds only what the HTTP edge
knows: a description or example for the OpenAPI document, the fields it leaves out (a key store's
kind is nobody's business outside), and fields only the edge can compute (links). A field added to
the service type appears in the API without a second edit, and the two cannot drift::

    SealRead = derive(SealInfo, "SealRead", exclude={"key_store"}, describe={"purpose": "公章 …"})

    @router.get("/seals/{id}", response_model=SealRead)
    def seal(...) -> SealInfo:           # FastAPI turns the dataclass into SealRead
        ...

Nested value types map to their own derived models (``DepartmentInfo.seals`` is a tuple of
``SealInfo``, so ``DepartmentRead.seals`` is a list of ``SealRead``), provided the nested one
was derived first. ``tests/api/test_derived_models.py`` refuses a response model that re-lists a
service type's fields by hand.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from collections.abc import Collection, Mapping
from typing import Any

from pydantic import BaseModel, Field, create_model

__all__ = ["derive", "extend", "many", "source_of", "to_api"]

# Each derived model by the service type it came from: nested fields are rewritten through it.
_DERIVED: dict[type, type[BaseModel]] = {}
_SOURCE_ATTRIBUTE = "__derived_from__"


def derive(
    source: type,
    name: str,
    *,
    exclude: Collection[str] = (),
    describe: Mapping[str, str] | None = None,
    examples: Mapping[str, Any] | None = None,
    retype: Mapping[str, Any] | None = None,
    add: Mapping[str, tuple[Any, Any]] | None = None,
    base: type[BaseModel] | None = None,
    doc: str | None = None,
) -> type[BaseModel]:
    """A pydantic model with the fields of the dataclass ``source``, in its order.

    ``exclude`` drops fields; ``describe``/``examples`` document them (an example is one value);
    ``retype`` gives a field another type (an enum answered as its value, say); ``add`` appends
    fields the service type has not (``name: (type, default or Field(...))``); ``base`` is the
    model's base class (for a model that extends another derived one).
    """
    if not dataclasses.is_dataclass(source):
        raise TypeError(f"{source!r} is not a dataclass")
    describe = describe or {}
    examples = examples or {}
    retype = retype or {}
    names = {f.name for f in dataclasses.fields(source)}
    unknown = (set(exclude) | set(describe) | set(examples) | set(retype)) - names
    if unknown:
        raise ValueError(f"{source.__name__} has no field(s) {sorted(unknown)}")
    hints = typing.get_type_hints(source)
    fields: dict[str, Any] = {}
    for field in dataclasses.fields(source):
        if field.name in exclude:
            continue
        annotation = retype[field.name] if field.name in retype else _api_type(hints[field.name])
        extra: dict[str, Any] = {}
        if field.name in describe:
            extra["description"] = describe[field.name]
        if field.name in examples:
            extra["examples"] = [examples[field.name]]
        # Every field is required: an answer made from the dataclass always has them all.
        fields[field.name] = (annotation, Field(..., **extra))
    for extra_name, spec in (add or {}).items():
        fields[extra_name] = spec
    model: type[BaseModel] = create_model(
        name, __base__=base, __doc__=doc, __module__=_caller_module(), **fields
    )
    setattr(model, _SOURCE_ATTRIBUTE, source)
    _DERIVED.setdefault(source, model)
    return model


def extend(base: type[BaseModel], name: str, *, add: Mapping[str, tuple[Any, Any]], doc: str | None = None) -> type[BaseModel]:
    """A derived model with fields of the edge's own added (``QrVerificationRead`` is the report
    of ``/verify`` plus the QR payload's claims); it keeps its base's service type."""
    model: type[BaseModel] = create_model(  # type: ignore[call-overload]  # fields built at run time
        name, __base__=base, __doc__=doc, __module__=_caller_module(), **dict(add)
    )
    return model


def many(model: type[BaseModel]) -> Any:
    """``list[model]`` for a ``response_model=`` (a model made at run time is no static type)."""
    return list[model]  # type: ignore[valid-type]


def source_of(model: type[BaseModel]) -> type | None:
    """The service type ``model`` was derived from (None: written by hand)."""
    found: type | None = getattr(model, _SOURCE_ATTRIBUTE, None)
    return found


def to_api(value: Any) -> dict[str, Any]:
    """A service value as the plain dict a derived model validates (for adding edge-only fields)."""
    if not dataclasses.is_dataclass(value) or isinstance(value, type):
        raise TypeError(f"{value!r} is not a dataclass instance")
    return dataclasses.asdict(value)


def _api_type(annotation: Any) -> Any:
    """The JSON-side type of a dataclass field: tuples as lists, nested value types as their models."""
    if isinstance(annotation, type):
        if annotation in _DERIVED:
            return _DERIVED[annotation]
        if dataclasses.is_dataclass(annotation):
            raise TypeError(f"derive the model of {annotation.__name__} before the models that nest it")
        return annotation
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return list[_api_type(args[0])]  # type: ignore[misc]  # a type built at run time
    if origin in (typing.Union, types.UnionType):
        converted = tuple(_api_type(a) for a in args)
        return typing.Union[converted]  # noqa: UP007  # a Union of run-time types cannot use |
    if origin in (list, set, frozenset):
        return list[_api_type(args[0])]  # type: ignore[misc]
    if origin is dict:
        return dict[_api_type(args[0]), _api_type(args[1])]  # type: ignore[misc]
    return annotation


def _caller_module() -> str:
    # The module that called derive(): the model's __module__, as if it were written there.
    frame = sys._getframe(2)
    return str(frame.f_globals.get("__name__", __name__))

