"""``certsvc batch``: import licence records and re-sign licences, as durable jobs.

Dry run by default; ``--execute`` acts. People get a progress bar on stderr and a summary;
``--json`` prints one machine-readable summary instead. Exit 0 when nothing failed, 1 when a
row or an item failed, and the usual error codes (``cli/errors.py``) otherwise.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certsvc.domain.ids import ROW_ID_MAX
from certsvc.errors import BadRequestError
from certsvc_cli.errors import handle_errors
from certsvc_cli.operator import operator_principal

if TYPE_CHECKING:
    from certsvc.jobs.api import JobProgress
    from certsvc.services.batch import BatchService, JobCreated
    from certsvc.services.batch_import import ImportReport

__all__ = ["app"]

app = typer.Typer(
    help="Batch work: import licence records, re-sign licences (durable, resumable jobs).",
    no_args_is_help=True,
)

JobArg = Annotated[int, typer.Argument(help="job id", min=1, max=ROW_ID_MAX)]
JsonOpt = Annotated[bool, typer.Option("--json", help="print a machine-readable summary only")]
WorkersOpt = Annotated[
    int | None, typer.Option("--workers", help="worker processes (default: all cores)")
]
ExecuteOpt = Annotated[bool, typer.Option("--execute", help="act; without it this is a dry run")]


def _service() -> BatchService:
    from certsvc.config import load_settings
    from certsvc.services.batch import BatchService
    from certsvc.services.context import build_context

    return BatchService(build_context(load_settings()))


class _ProgressBar:
    """done/failed, rate and ETA on stderr; redrawn in place on a terminal, a line every 5 s otherwise."""

    def __init__(self) -> None:
        self.is_tty = sys.stderr.isatty()
        self._last = 0.0

    def __call__(self, p: JobProgress) -> None:
        now = time.monotonic()
        if not self.is_tty and now - self._last < 5:
            return
        self._last = now
        width = 30
        filled = int(width * p.finished / p.total) if p.total else width
        rate = f"{p.rate_per_second:.1f}/s" if p.rate_per_second else "-/s"
        eta = _duration(p.eta_seconds) if p.eta_seconds is not None else "--:--"
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {p.finished}/{p.total}  done {p.done}  "
            f"skipped {p.skipped}  failed {p.failed}  {rate}  ETA {eta}"
        )
        typer.echo(("\r" + line) if self.is_tty else line, err=True, nl=not self.is_tty)

    def close(self) -> None:
        if self.is_tty:
            typer.echo("", err=True)


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _progress_dict(p: JobProgress) -> dict[str, Any]:
    data = asdict(p)
    for key in ("created_at", "started_at", "finished_at"):
        data[key] = data[key].isoformat() if data[key] else None
    return data


def _run(service: BatchService, job_id: int, *, workers: int | None, as_json: bool) -> JobProgress:
    from certsvc.jobs.local import default_workers

    bar = None if as_json else _ProgressBar()
    try:
        return service.run(
            job_id,
            principal=operator_principal(),
            workers=default_workers() if workers is None else workers,
            on_progress=bar,
        )
    finally:
        if bar is not None:
            bar.close()


def _summary(p: JobProgress, *, as_json: bool, extra: dict[str, Any] | None = None) -> None:
    if as_json:
        typer.echo(
            json.dumps({**(extra or {}), "job": _progress_dict(p)}, ensure_ascii=False, indent=2)
        )
    else:
        rate = f", {p.rate_per_second:.1f} per second" if p.rate_per_second else ""
        typer.echo(
            f"job {p.job_id} ({p.kind}) {p.state}: {p.total} items: {p.done} done, {p.skipped} skipped, "
            f"{p.failed} failed, {p.pending + p.running} left{rate}"
        )
        if p.failed:
            typer.echo(f"failures: certsvc batch failures {p.job_id}")
        if p.state == "running":
            typer.echo(f"resume:   certsvc batch resume {p.job_id}")
    if p.failed or p.state not in ("completed",):
        sys.exit(1)


def _report(report: ImportReport, *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"dry_run": True, **asdict(report)}, ensure_ascii=False, indent=2))
    else:
        typer.echo(
            f"dry run: {report.total_rows} rows: {report.valid_rows} valid, {report.invalid_rows} invalid, "
            f"{report.already_issued} already issued (a run skips them)"
        )
        for p in report.problems:
            column = f" [{p.column}]" if p.column else ""
            typer.echo(
                f"  row {p.row} (record {p.record_no or '-'}): {p.field}{column}: {p.problem}"
            )
        if report.problems_truncated:
            typer.echo("  ... more problems not shown")
        typer.echo("nothing was issued; add --execute to issue the valid rows")
    if report.invalid_rows:
        sys.exit(1)


@app.command("import")
@handle_errors
def import_(
    file: Annotated[
        Path,
        typer.Argument(help="CSV (UTF-8 or GB18030) or XLSX; header row = field labels or keys"),
    ],
    template: Annotated[str, typer.Option("--template", help="template slug")],
    department: Annotated[str, typer.Option("--department", help="issuing department's code")],
    mapping: Annotated[
        Path | None, typer.Option(help='JSON {"header": "field key"} for headers that differ')
    ] = None,
    execute: ExecuteOpt = False,
    workers: WorkersOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Issue a licence for every row of a spreadsheet of existing records (存量出证)."""
    if not file.is_file():
        raise BadRequestError(f"no such file: {file}", code="unreadable_file")
    columns = _mapping(mapping)
    service = _service()
    if not execute:
        _report(
            service.check_import(
                file,
                template=template,
                department_code=department,
                principal=operator_principal(),
                mapping=columns,
            ),
            as_json=as_json,
        )
        return
    created, report = service.create_import_job(
        file,
        template=template,
        department_code=department,
        principal=operator_principal(),
        mapping=columns,
    )
    _announce(created, as_json=as_json)
    if not as_json and report.invalid_rows:
        typer.echo(
            f"{report.invalid_rows} invalid row(s) recorded as failed; see certsvc batch failures {created.job_id}",
            err=True,
        )
    progress = _run(service, created.job_id, workers=workers, as_json=as_json)
    _summary(progress, as_json=as_json)


@app.command()
@handle_errors
def resign(
    to_seal: Annotated[
        int, typer.Option("--to-seal", help="id of the new seal", min=1, max=ROW_ID_MAX)
    ],
    department: Annotated[
        str | None, typer.Option(help="department code (default: the new seal's)")
    ] = None,
    from_seal: Annotated[
        int | None,
        typer.Option(
            "--from-seal", help="only licences now sealed with this seal", min=1, max=ROW_ID_MAX
        ),
    ] = None,
    issued_before: Annotated[
        str | None, typer.Option("--issued-before", help="YYYY-MM-DD (Beijing date)")
    ] = None,
    template: Annotated[str | None, typer.Option(help="only licences of this template")] = None,
    reason: Annotated[str, typer.Option(help="recorded with every new version")] = "seal rollover",
    compromised_at: Annotated[
        str | None,
        typer.Option(
            "--compromised-at",
            help="the old seal's key was compromised at this ISO 8601 time (with zone): files it sealed "
            "from then on verify as invalid (needs --from-seal); without it the re-sign is a key rotation",
        ),
    ] = None,
    execute: ExecuteOpt = False,
    workers: WorkersOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Seal the current version of every matching licence again with a new seal (批量签章)."""
    before = None
    if issued_before is not None:
        try:
            before = date.fromisoformat(issued_before)
        except ValueError as exc:
            raise BadRequestError(
                f"--issued-before must be YYYY-MM-DD, not {issued_before!r}"
            ) from exc
    compromise = None
    if compromised_at is not None:
        try:
            compromise = datetime.fromisoformat(compromised_at)
        except ValueError as exc:
            raise BadRequestError(
                f"--compromised-at must be an ISO 8601 time, not {compromised_at!r}"
            ) from exc
    service = _service()
    filters: dict[str, Any] = {
        "to_seal_id": to_seal,
        "department_code": department,
        "from_seal_id": from_seal,
        "issued_before": before,
        "template": template,
    }
    if not execute:
        plan = service.check_resign(principal=operator_principal(), **filters)
        if as_json:
            typer.echo(json.dumps({"dry_run": True, **asdict(plan)}, ensure_ascii=False, indent=2))
        else:
            typer.echo(
                f"dry run: {plan.matched} licence(s) of {plan.department_code} match; "
                f"{plan.revoked_or_cancelled} revoked or cancelled and {plan.already_on_seal} already on seal "
                f"{plan.to_seal_id} would be skipped.\nnothing was signed; add --execute to re-sign"
            )
        return
    created = service.create_resign_job(
        principal=operator_principal(), reason=reason, compromised_at=compromise, **filters
    )
    _announce(created, as_json=as_json)
    _summary(_run(service, created.job_id, workers=workers, as_json=as_json), as_json=as_json)


@app.command()
@handle_errors
def resume(job: JobArg, workers: WorkersOpt = None, as_json: JsonOpt = False) -> None:
    """Finish an interrupted job (after a crash, kill -9 or power cut)."""
    _summary(_run(_service(), job, workers=workers, as_json=as_json), as_json=as_json)


@app.command()
@handle_errors
def status(job: JobArg, as_json: JsonOpt = False) -> None:
    """State and counts of a job."""
    p = _service().status(job, principal=operator_principal())
    if as_json:
        typer.echo(json.dumps(_progress_dict(p), ensure_ascii=False, indent=2))
    else:
        typer.echo(
            f"job {p.job_id} ({p.kind}) {p.state}: {p.total} items: {p.done} done, {p.skipped} skipped, "
            f"{p.failed} failed, {p.running} running, {p.pending} pending"
        )


@app.command()
@handle_errors
def failures(
    job: JobArg,
    as_json: JsonOpt = False,
) -> None:
    """Every failed item of a job, as CSV (row/seq, key, code, message) or JSON lines."""
    rows = _service().failures(job, principal=operator_principal())
    if as_json:
        for row in rows:
            typer.echo(json.dumps(asdict(row), ensure_ascii=False))
        return
    writer = csv.writer(sys.stdout)
    writer.writerow(["seq", "key", "error_code", "error_message"])
    for row in rows:
        writer.writerow([row.seq, row.key, row.error_code, row.error_message])


@app.command()
@handle_errors
def cancel(job: JobArg) -> None:
    """Stop a job; items not yet done stay undone."""
    p = _service().cancel(job, principal=operator_principal())
    typer.echo(
        f"job {p.job_id} cancelled: {p.done} done, {p.skipped} skipped, {p.failed} failed, {p.pending + p.running} not done"
    )


def _announce(created: JobCreated, *, as_json: bool) -> None:
    if as_json:
        return
    how = "resuming the unfinished job" if created.is_existing else "created job"
    typer.echo(
        f"{how} {created.job_id} ({created.total} items); resume with: certsvc batch resume {created.job_id}",
        err=True,
    )


def _mapping(path: Path | None) -> dict[str, str] | None:
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadRequestError(
            f"cannot read the mapping file {path}: {exc}", code="unreadable_file"
        ) from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise BadRequestError('the mapping file must be a JSON object {"header": "field key"}')
    return data
