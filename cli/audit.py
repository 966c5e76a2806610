"""`certsvc audit verify|export|checkpoint`: the tamper-evident audit log."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certsvc.errors import BadRequestError
from certsvc_cli.errors import handle_errors
from certsvc_cli.operator import operator_principal

if TYPE_CHECKING:
    from certsvc.services.audit import AuditService

__all__ = ["app"]

app = typer.Typer(help="The audit log (hash chain with signed checkpoints).", no_args_is_help=True)


def _service() -> AuditService:
    from certsvc.config import load_settings
    from certsvc.services.audit import AuditService
    from certsvc.services.context import build_context

    return AuditService(build_context(load_settings()))


def _when(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequestError(f"not an ISO 8601 date or time: {text}", code="bad_time") from exc
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


@app.command("verify")
@handle_errors
def verify(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Walk the chain; exit 0 if intact, 1 naming the first entry changed, removed or reordered."""
    report = _service().verify()
    problem = report.problem
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "is_intact": report.is_intact,
                    "entries": report.entries,
                    "checkpoints": report.checkpoints,
                    "head_event_id": report.head_event_id,
                    "problem": None
                    if problem is None
                    else {
                        "kind": problem.kind.value,
                        "event_id": problem.event_id,
                        "position": problem.position,
                        "checkpoint_id": problem.checkpoint_id,
                        "message": problem.message,
                    },
                },
                indent=2,
            )
        )
    elif problem is None:
        typer.echo(
            f"audit chain intact: {report.entries} entries, {report.checkpoints} signed checkpoints"
        )
    else:
        where = f" at entry {problem.event_id}" if problem.event_id is not None else ""
        typer.echo(f"audit chain BROKEN: {problem.kind.value}{where}: {problem.message}")
    sys.exit(0 if report.is_intact else 1)


@app.command("export")
@handle_errors
def export(
    start: Annotated[
        str | None, typer.Option("--from", help="ISO date/time, inclusive (UTC if no zone)")
    ] = None,
    end: Annotated[str | None, typer.Option("--to", help="ISO date/time, exclusive")] = None,
    out: Annotated[Path | None, typer.Option(help="write here instead of stdout")] = None,
) -> None:
    """Write events as JSON lines (one object per line, with their hashes)."""
    from certsvc.domain.paging import every_item

    service, since, until, operator = _service(), _when(start), _when(end), operator_principal()
    rows = every_item(
        lambda page: service.export(start=since, end=until, actor=operator, page=page)
    )
    lines = (
        json.dumps(row, ensure_ascii=False, sort_keys=True, default=str) + "\n" for row in rows
    )
    if out is None:
        for line in lines:
            typer.echo(line, nl=False)
    else:
        with out.open("w", encoding="utf-8") as fh:
            fh.writelines(lines)


@app.command("checkpoint")
@handle_errors
def checkpoint() -> None:
    """Sign the chain head now with the service's audit key."""
    cp = _service().checkpoint()
    if cp is None:
        typer.echo("the audit log is empty: nothing to sign")
    else:
        typer.echo(
            f"checkpoint {cp.id}: {cp.event_count} entries, head {cp.last_event_id} {cp.head_hash}"
        )
