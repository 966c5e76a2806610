"""`certsvc suspend|resume|revoke|cancel|amend|reissue IDENTIFIER`: the licence lifecycle."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from certsvc.config import load_settings
from certsvc.domain.status import LicenceAction
from certsvc.errors import BadRequestError
from certsvc.services.admin import local_operator
from certsvc.services.context import build_context
from certsvc.services.lifecycle import LifecycleResult, LifecycleService, parse_amend_request
from certsvc_cli.errors import handle_errors

__all__ = ["app"]

app = typer.Typer()

Reason = Annotated[str, typer.Option("--reason", help="why (e.g. the decision's document number)")]
JsonOption = Annotated[bool, typer.Option("--json")]


def _service() -> LifecycleService:
    # Webhooks are delivered before the command exits (a daemon thread would die with it).
    return LifecycleService(build_context(load_settings()), background_webhooks=False)


def _print(result: LifecycleResult, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(asdict(result), ensure_ascii=False, indent=2, default=str))
    elif result.identifier != result.previous_identifier:
        typer.echo(f"{result.action}: {result.previous_identifier} -> {result.identifier} (version {result.version}, {result.status})")
    else:
        typer.echo(f"{result.action}: {result.identifier} is now {result.status}")


def _status_command(action: LicenceAction) -> None:
    def command(identifier: str, reason: Reason, as_json: JsonOption = False) -> None:
        result = _service().change_status(identifier, action, reason=reason, principal=local_operator())
        _print(result, as_json)

    command.__doc__ = f"{action.value.capitalize()} a licence."
    app.command(action.value)(handle_errors(command))


for _action in (LicenceAction.SUSPEND, LicenceAction.RESUME, LicenceAction.REVOKE, LicenceAction.CANCEL):
    _status_command(_action)


@app.command("amend")
@handle_errors
def amend(
    identifier: str,
    changes: Annotated[Path, typer.Argument(help='CHANGES.json: {"reason": ..., "fields": {...}, "holder_name": ...}')],
    as_json: JsonOption = False,
) -> None:
    """变更: seal a new version with the changes and the next version number."""
    try:
        data = json.loads(changes.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadRequestError(f"cannot read {changes}: {exc}", code="unreadable_request") from exc
    _print(_service().amend(identifier, parse_amend_request(data), principal=local_operator()), as_json)


@app.command("reissue")
@handle_errors
def reissue(identifier: str, reason: Reason, as_json: JsonOption = False) -> None:
    """补发: seal the same data again as a new version."""
    _print(_service().reissue(identifier, reason=reason, principal=local_operator()), as_json)
