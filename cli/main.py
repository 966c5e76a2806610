"""The ``certsvc`` command: a thin shell over the same services as the API."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certsvc.errors import BadRequestError
from certsvc_cli import qr
from certsvc_cli.errors import handle_errors
from certsvc_cli.exit_codes import DocumentedGroup, exit_code_epilog
from certsvc_cli.operator import issuer_principal, operator_principal, set_operator
from certsvc_cli.output import jsonable, print_json

if TYPE_CHECKING:
    from certsvc.services.context import ServiceContext

# Only typer and the standard library load at start-up: every service import sits inside the
# command that needs it, so `certsvc --help` and argument errors answer at once
# (docs/benchmarks.md, "CLI start-up"; tests/cli/test_exit_codes.py keeps it that way).

__all__ = ["app", "main"]

app = typer.Typer(
    cls=DocumentedGroup,
    help="certsvc: electronic licence (电子证照) issuance and electronic seals.",
    epilog=exit_code_epilog("certsvc").replace(
        "Exit codes:", "Exit codes (each command's --help says what 1 means for it):"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help: rich's help layout costs ~0.4 s of imports on every `--help`.
    rich_markup_mode=None,
)


@app.callback()
@handle_errors
def _global_options(
    operator: Annotated[
        str | None,
        typer.Option(
            "--operator",
            envvar="CERTSVC_OPERATOR",
            help="who is acting, as the audit log records it (default: your OS user name)",
        ),
    ] = None,
) -> None:
    set_operator(operator)


class FileFormat(StrEnum):
    PDF = "pdf"
    OFD = "ofd"


def _context() -> ServiceContext:
    from certsvc.config import load_settings
    from certsvc.services.context import build_context

    return build_context(load_settings())


def _default_department(ctx: ServiceContext) -> str:
    credentials = ctx.settings.resolved_home / "demo-credentials.json"
    if credentials.exists():
        return str(json.loads(credentials.read_text())["departments"][0]["code"])
    raise BadRequestError("no department given: pass --department CODE", code="department_required")


@app.command()
@handle_errors
def init() -> None:
    """Set up the embedded deployment under CERTSVC_HOME (idempotent)."""
    from certsvc.services.embedded_init import init_embedded

    ctx = _context()
    result = init_embedded(ctx)
    typer.echo(f"home:         {result.home}")
    typer.echo(f"database:     {result.database_url}")
    if result.credentials_file is not None:
        typer.echo(f"credentials:  {result.credentials_file} (mode 0600)")
    for root in result.trust_roots:
        typer.echo(f"trust root:   {root}")
    typer.echo(
        "created:      "
        + ("; ".join(result.created) if result.created else "nothing (already set up)")
    )
    for warning in result.warnings:
        typer.echo(f"warning: {warning}", err=True)


@app.command()
@handle_errors
def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port to listen on")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="API processes serving this port; instances on several machines need PostgreSQL",
        ),
    ] = 1,
) -> None:
    """Serve the HTTP API and the public verification pages."""
    from certsvc.api.serving import serve as serve_api

    serve_api(_context(), host=host, port=port, workers=workers)


@app.command()
@handle_errors
def worker(
    concurrency: Annotated[
        int | None, typer.Option(min=1, max=256, help="worker processes (default: all cores)")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="node name in the broker (default: certsvc-HOST-PID)")
    ] = None,
    loglevel: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR")] = "INFO",
) -> None:
    """Run a batch worker: takes batch work from the broker (CERTSVC_JOB_ENGINE=celery)."""
    from certsvc.config import load_settings
    from certsvc.jobs.celery_worker import WorkerOptions, start_worker
    from certsvc.jobs.local import default_workers
    from certsvc.services.batch_jobs import HANDLER_FACTORIES

    settings = load_settings()
    if settings.job_engine != "celery" or not settings.broker_url:
        raise BadRequestError(
            "a worker needs CERTSVC_JOB_ENGINE=celery and CERTSVC_BROKER_URL=redis://…",
            code="no_job_broker",
        )
    if loglevel.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise BadRequestError(f"unknown log level {loglevel!r}", code="invalid_option")
    options = WorkerOptions(
        settings=settings,
        database_url=settings.sqlalchemy_url,
        broker_url=settings.broker_url,
        factories=HANDLER_FACTORIES,
        lease_seconds=settings.job_lease_seconds,
        stall_seconds=settings.job_stall_seconds,
        chunk=settings.job_dispatch_chunk,
    )
    start_worker(
        options, concurrency=concurrency or default_workers(), name=name, loglevel=loglevel.upper()
    )


@app.command("templates")
@handle_errors
def list_templates(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
) -> None:
    """List the licence templates with the path of each one's sample request."""
    ctx = _context()
    rows = [
        {"slug": t.slug, "name": t.name, "type_code": t.type_code, "sample": str(t.sample_path)}
        for t in ctx.templates.all()
    ]
    if as_json:
        print_json(rows)
        return
    from certsvc_cli.tables import print_table

    print_table(
        ("slug", "名称 name", "type code", "sample request"),
        [(r["slug"], r["name"], r["type_code"], r["sample"]) for r in rows],
    )


@app.command()
@handle_errors
def issue(
    template: Annotated[str, typer.Argument(help="template slug, see `certsvc templates`")],
    request_file: Annotated[Path, typer.Argument(help="REQUEST.json in the API body shape")],
    out: Annotated[
        Path | None, typer.Option(help="write the signed file here (see --format)")
    ] = None,
    department: Annotated[str | None, typer.Option(help="issuing department's code")] = None,
    file_format: Annotated[
        FileFormat,
        typer.Option(
            "--format", help="what --out receives; ofd needs an SM2 seal (refused before issuing)"
        ),
    ] = FileFormat.PDF,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Issue a licence from a request file."""
    from certsvc.services.issuance import IssuanceService
    from certsvc.services.registry import RegistryService
    from certsvc.services.requests import parse_issue_request

    try:
        data = json.loads(request_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BadRequestError(
            f"cannot read {request_file}: {exc}", code="unreadable_request"
        ) from exc
    if isinstance(data, dict):
        data.setdefault("template", template)
        if data["template"] != template:
            raise BadRequestError(
                f"{request_file} is for template {data['template']!r}, not {template!r}"
            )
    request = parse_issue_request(data)
    ctx = _context()
    principal = issuer_principal(ctx, department or _default_department(ctx))
    issued = IssuanceService(ctx).issue(
        request, principal=principal, require_ofd=file_format is FileFormat.OFD
    )
    if out is not None:
        registry = RegistryService(ctx)
        if file_format is FileFormat.OFD:
            download = registry.ofd_file(issued.identifier, principal=principal)
        else:
            download = registry.file(issued.identifier, principal=principal)
        out.write_bytes(download.read())
    if as_json:
        print_json({**jsonable(issued), "file": str(out) if out else None})
    else:
        typer.echo(
            f"issued {issued.identifier}\nsha256 {issued.sha256}"
            + (f"\nwritten to {out}" if out else "")
        )


@app.command()
@handle_errors
def verify(
    file: Annotated[Path, typer.Argument(help="the licence file, PDF or OFD")],
    at: Annotated[
        datetime | None, typer.Option(help="validate as of this date/time (UTC), e.g. 2040-01-01")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Verify a licence PDF or OFD. Exit 0 valid, 1 otherwise (invalid, indeterminate, a print copy), 2 could not evaluate."""
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise BadRequestError(
            f"cannot read {file}: {exc.strerror}", code="unreadable_file"
        ) from exc
    from certsvc.services.verification import VerificationService

    moment = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
    report = VerificationService(_context()).verify_file(data, at=moment)
    if as_json:
        print_json(report)
    else:
        typer.echo(f"verdict: {report.verdict.value}")
        for r in report.reasons:
            typer.echo(f"  [{r.code}] {r.message_zh} / {r.message_en}")
        for s in report.signatures:
            typer.echo(
                f"  signature {s.field_name}: {s.algorithm}, signer {s.signer}, intact={s.is_intact}, "
                f"trusted={s.is_trusted}, modifications={s.modification_level}"
                + (f", time-stamped {s.timestamped_at.isoformat()}" if s.timestamped_at else "")
            )
        if report.registry:
            typer.echo(f"  registry: {report.registry.identifier} status={report.registry.status}")
    sys.exit(0 if report.bottom_line else 1)


@app.command()
@handle_errors
def show(
    identifier: Annotated[str, typer.Argument()],
    ofd: Annotated[
        Path | None, typer.Option("--ofd", help="also write the licence's sealed OFD here")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Show a licence's registry entry."""
    from certsvc.services.registry import RegistryService

    ctx = _context()
    operator = operator_principal()
    info = RegistryService(ctx).get(identifier, principal=operator)
    if ofd is not None:
        ofd.write_bytes(RegistryService(ctx).ofd_file(identifier, principal=operator).read())
        if not as_json:
            typer.echo(f"OFD written to {ofd}")
    if as_json:
        print_json(info)
        return
    typer.echo(f"{info.identifier}\n  template {info.template}  status {info.status}")
    typer.echo(f"  holder {info.holder_name} ({info.holder_id_type} {info.holder_id})")
    typer.echo(
        f"  issued by {info.department_name} ({info.department_code}) at {info.issued_at.isoformat()}"
    )
    typer.echo(f"  valid {info.valid_from} .. {info.valid_until}; version {info.current_version}")


# Feature command groups (each a typer.Typer in its own module under cli/) are added here:
# app.add_typer(<module>.app, name="<group>"). Keep their service imports inside the commands.
from certsvc_cli import audit as _audit_cli  # noqa: E402
from certsvc_cli import batch as _batch_cli  # noqa: E402
from certsvc_cli import clients as _clients_cli  # noqa: E402
from certsvc_cli import departments as _departments_cli  # noqa: E402
from certsvc_cli import keys as _keys_cli  # noqa: E402
from certsvc_cli import lifecycle as _lifecycle_cli  # noqa: E402
from certsvc_cli import ltv as _ltv_cli  # noqa: E402
from certsvc_cli import seals as _seals_cli  # noqa: E402
from certsvc_cli import stats as _stats_cli  # noqa: E402
from certsvc_cli import templates as _templates_cli  # noqa: E402
from certsvc_cli import tour as _tour_cli  # noqa: E402
from certsvc_cli import tsa as _tsa_cli  # noqa: E402
from certsvc_cli import webhooks as _webhooks_cli  # noqa: E402

app.add_typer(qr.trust_app, name="trust")
app.add_typer(qr.qr_app, name="qr")
app.command("verify-qr")(qr.verify_qr)
app.add_typer(_departments_cli.department_app, name="department")
app.add_typer(_seals_cli.seal_app, name="seal")
app.add_typer(_clients_cli.client_app, name="client")
app.add_typer(_webhooks_cli.webhook_app, name="webhook")
app.add_typer(_audit_cli.app, name="audit")
app.add_typer(
    _lifecycle_cli.app
)  # no name: suspend|resume|revoke|cancel|amend|reissue are top-level
app.add_typer(_stats_cli.app, name="stats")
app.add_typer(_batch_cli.app, name="batch")
app.add_typer(_ltv_cli.app, name="ltv")
app.add_typer(_tsa_cli.app, name="tsa")
app.add_typer(_keys_cli.app, name="keys")
app.add_typer(_templates_cli.app, name="template")  # `certsvc templates` (list) stays top-level
app.command("wait")(_tour_cli.wait)

from certsvc_cli import region as _region_cli  # noqa: E402

app.command("catalogue")(_region_cli.catalogue)
app.add_typer(_region_cli.matter_app, name="matter")
_seals_cli.seal_app.command("issue-all")(_region_cli.seal_issue_all)
_seals_cli.seal_app.command("coverage")(_region_cli.seal_coverage)

from certsvc_cli import connector as _connector_cli  # noqa: E402

app.add_typer(_connector_cli.upstream_app, name="upstream")
app.add_typer(_connector_cli.hub_app, name="hub")


def main() -> None:
    app()
