"""``certsvc stats``: the programme figures, as text, JSON, or PNG charts."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import typer

from certsvc_cli.errors import handle_errors
from certsvc_cli.operator import operator_principal
from certsvc_cli.tables import print_table

__all__ = ["app"]

app = typer.Typer(
    help="Figures of the material-waiver programme (operator view).", no_args_is_help=False
)


@app.callback(invoke_without_command=True)
@handle_errors
def stats(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="write PNG charts into this directory")
    ] = None,
) -> None:
    """Licences by department, type and state; uses through sharing; reach."""
    from certsvc.config import load_settings
    from certsvc.services.context import build_context
    from certsvc.services.stats import StatsService

    ctx = build_context(load_settings())
    # The CLI runs on the deployment's own machine with its keys: it acts as the operator.
    service = StatsService(ctx)
    report = service.report(operator_principal())
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
    print_table(
        ("department code", "发证机关 department", "template", "status", "count"),
        [
            (c.department_code, c.department_name, c.template, c.status, c.count)
            for c in report.licences
        ],
        title=f"licences (as of {report.generated_at.date()})",
    )
    typer.echo(f"materials waived (licences delivered by sharing): {report.materials_waived}")
    typer.echo(f"checks matched:                                   {report.checks_matched}")
    typer.echo(
        f"valid licences used at least once:                {report.valid_licences_used}/{report.valid_licences}"
        f" ({report.share_used:.0%})"
    )
    typer.echo(f"applications served without paper:                {report.applications_served}")
    if report.matters:
        print_table(
            ("事项编码 matter", "事项名称 name", "waivable", "materials", "waived"),
            [(m.code, m.name, m.waivable, m.materials, m.waived) for m in report.matters],
            title="materials per matter",
        )
    for path in written:
        typer.echo(f"chart: {path}")
