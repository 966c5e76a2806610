"""What the operator's command groups share: --json output, row-id arguments, the context."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from certsvc.domain.ids import ROW_ID_MAX

if TYPE_CHECKING:
    from certsvc.domain.paging import Page, PageRequest
    from certsvc.services.context import ServiceContext

__all__ = ["JsonOption", "RowIdArg", "context", "every", "out"]

JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]
# Ids beyond every supported database's range are refused as usage errors, not driver errors.
RowIdArg = Annotated[int, typer.Argument(min=1, max=ROW_ID_MAX)]
T = TypeVar("T")


def context(**overrides: object) -> ServiceContext:
    from certsvc.config import load_settings
    from certsvc.services.context import build_context

    return build_context(load_settings(**overrides))


def out(value: Any, as_json: bool, line: str) -> None:
    """``value`` as JSON with ``--json``, else the human ``line``."""
    if as_json:
        typer.echo(json.dumps(_plain(value), ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(line)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value


def every(fetch: Callable[[PageRequest], Page[T]]) -> list[T]:
    """Every page of a list (the CLI shows all of it)."""
    from certsvc.domain.paging import every_item

    return list(every_item(fetch))
