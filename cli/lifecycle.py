"""`certsvc suspend|resume|revoke|cancel|amend|reissue IDENTIFIER`: the licence lifecycle."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certsvc.domain.status import LicenceAction
from certsvc.domain.status_reasons import ReasonCategory
from certsvc.errors import BadRequestError
from certsvc_cli.errors import handle_errors
from certsvc_cli.operator import operator_principal

if TYPE_CHECKING:
    from certsvc.services.lifecycle import LifecycleResult, LifecycleService

__all__ = ["app"]

app = typer.Typer()

Reason = Annotated[str, typer.Option("--reason", help="why (e.g. the decision's document number)")]
Category = Annotated[
    ReasonCategory,
    typer.Option(
        "--category",
        help="the kind of reason, shown on the public page (the --reason text never is)",
    ),
]
Yes = Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")]
JsonOption = Annotated[bool, typer.Option("--json")]

# Final actions: a revoked or cancelled licence cannot be brought back, so the CLI asks first.
_CONFIRM = {
    LicenceAction.REVOKE: "吊销/撤销 (revoke)",
    LicenceAction.CANCEL: "注销 (cancel)",
}


def _service() -> LifecycleService:
    from certsvc.config import load_settings
    from certsvc.services.context import build_context
    from certsvc.services.lifecycle import LifecycleService

    # Webhooks are delivered before the command exits (a daemon thread would die with it).
    return LifecycleService(build_context(load_settings()), background_webhooks=False)


def _print(result: LifecycleResult, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(asdict(result), ensure_ascii=False, indent=2, default=str))
    elif result.identifier != result.previous_identifier:
        typer.echo(
            f"{result.action}: {result.previous_identifier} -> {result.identifier} (version {result.version}, {result.status})"
        )
    else:
        typer.echo(f"{result.action}: {result.identifier} is now {result.status}")


def _confirmed(action: LicenceAction, identifier: str) -> bool:
    """Ask on stdin; an empty answer or no input at all (a script without --yes) is no."""
    question = f"{_CONFIRM[action]} {identifier}? This cannot be undone"
    try:
        return typer.confirm(question, default=False, err=True)
    except typer.Abort:  # end of input
        typer.echo("", err=True)
        return False


def _status_command(action: LicenceAction) -> None:
    def command(
        identifier: str,
        reason: Reason,
        category: Category = ReasonCategory.OTHER,
        as_json: JsonOption = False,
    ) -> None:
        result = _service().change_status(
            identifier, action, reason=reason, principal=operator_principal(), category=category
        )
        _print(result, as_json)

    def confirmed_command(
        identifier: str,
        reason: Reason,
        category: Category = ReasonCategory.OTHER,
        yes: Yes = False,
        as_json: JsonOption = False,
    ) -> None:
        if not yes and not _confirmed(action, identifier):
            typer.echo(f"not {action.value}d: {identifier} is unchanged", err=True)
            sys.exit(1)
        command(identifier, reason, category, as_json)

    chosen = confirmed_command if action in _CONFIRM else command
    chosen.__doc__ = f"{action.value.capitalize()} a licence." + (
        " Asks for confirmation unless --yes." if action in _CONFIRM else ""
    )
    app.command(action.value)(handle_errors(chosen))


for _action in (
    LicenceAction.SUSPEND,
    LicenceAction.RESUME,
    LicenceAction.REVOKE,
    LicenceAction.CANCEL,
):
    _status_command(_action)


@app.command("amend")
@handle_errors
def amend(
    identifier: str,
    changes: Annotated[
        Path,
        typer.Argument(
            help='CHANGES.json: {"reason": ..., "fields": {...}, "holder_name": ...}; see examples/changes.json'
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """变更: seal a new version with the changes and the next version number."""
    from certsvc.services.lifecycle import parse_amend_request

    try:
        data = json.loads(changes.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadRequestError(f"cannot read {changes}: {exc}", code="unreadable_request") from exc
    _print(
        _service().amend(identifier, parse_amend_request(data), principal=operator_principal()),
        as_json,
    )


@app.command("reissue")
@handle_errors
def reissue(identifier: str, reason: Reason, as_json: JsonOption = False) -> None:
    """补发: seal the same data again as a new version."""
    _print(_service().reissue(identifier, reason=reason, principal=operator_principal()), as_json)
