"""`certsvc keys ...`: the deployment's key files."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from certsvc_cli.errors import handle_errors
from certsvc_cli.operator import operator_principal

__all__ = ["app"]

app = typer.Typer(help="Key files: protection and passphrase (docs/keys.md).", no_args_is_help=True)


@app.command("rewrap")
@handle_errors
def rewrap(
    execute: Annotated[
        bool, typer.Option("--execute", help="rewrap (default: only say what would be done)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """Re-encrypt every key file with scrypt under CERTSVC_KEY_PASSPHRASE (files under
    CERTSVC_KEY_PASSPHRASE_PREVIOUS move to the current one). Safe to interrupt and rerun."""
    from certsvc.config import load_settings
    from certsvc.services.context import build_context
    from certsvc.services.key_files import KeyFileAction, KeyFileService

    report = KeyFileService(build_context(load_settings())).rewrap(
        principal=operator_principal(), execute=execute
    )
    if as_json:
        typer.echo(
            json.dumps(
                asdict(report) | {"is_complete": report.is_complete}, ensure_ascii=False, indent=2
            )
        )
    else:
        for state in report.files:
            line = f"{state.action.value:10} {state.ref}  ({state.protection})"
            typer.echo(line + (f": {state.problem}" if state.problem else ""))
        counts = {a: sum(1 for s in report.files if s.action is a) for a in KeyFileAction}
        summary = ", ".join(f"{n} {a.value}" for a, n in counts.items() if n)
        typer.echo(f"{len(report.files)} key files: {summary or 'none'}")
        if report.secrets_resealed:
            typer.echo(
                f"{report.secrets_resealed} webhook secrets sealed under the current passphrase"
            )
        if not execute and counts[KeyFileAction.TO_REWRAP]:
            typer.echo("dry run: add --execute to rewrap")
    if execute and not report.is_complete:
        raise typer.Exit(1)
