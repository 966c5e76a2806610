"""``certsvc stats``: the programme figures, as text, JSON, or PNG charts."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from certsvc.config import load_settings
from certsvc.services.context import build_context
from certsvc.services.principals import Principal, Role
from certsvc.services.stats import StatsService
from certsvc_cli.errors import handle_errors

__all__ = ["app"]

app = typer.Typer(help="Figures of the material-waiver programme (operator view).", no_args_is_help=False)


@app.callback(invoke_without_command=True)
@handle_errors
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    plot: Annotated[Path | None, typer.Option("--plot", help="write PNG charts into this directory")] = None,
) -> None:
    """Licences by department, type and state; uses through sharing; reach."""
    ctx = build_context(load_settings())
    # The CLI runs on the deployment's own machine with its keys: it acts as the operator.
    operator = Principal(client_id=0, name="cli", role=Role.OPERATOR, department_id=None, department_code=None)
    service = StatsService(ctx)
    report = service.report(operator)
    written: list[str] = []
    if plot is not None:
        plot.mkdir(parents=True, exist_ok=True)
        for name, png in service.charts(report).items():
            (plot / name).write_bytes(png)
            written.append(str(plot / name))
    if as_json:
        data = asdict(report)
        data["generated_at"] = report.generated_at.isoformat()
        data["share_valid_licences_used"] = round(report.share_used, 4)
        data["charts"] = written
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    typer.echo(f"licences (as of {report.generated_at.date()}):")
    for c in report.licences:
        typer.echo(f"  {c.department_code} {c.department_name:24} {c.template:32} {c.status:10} {c.count:6}")
    typer.echo(f"materials waived (licences delivered by sharing): {report.materials_waived}")
    typer.echo(f"checks matched:                                   {report.checks_matched}")
    typer.echo(
        f"valid licences used at least once:                {report.valid_licences_used}/{report.valid_licences}"
        f" ({report.share_used:.0%})"
    )
    typer.echo(f"applications served without paper:                {report.applications_served}")
    if report.matters:
        typer.echo("materials per matter (waivable / materials, waived):")
        for m in report.matters:
            typer.echo(f"  {m.code:24} {m.name:30} {m.waivable:3}/{m.materials:<3} waived {m.waived}")
    for path in written:
        typer.echo(f"chart: {path}")
