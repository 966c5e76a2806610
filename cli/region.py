"""``certsvc catalogue``, ``certsvc matter …``, ``certsvc seal issue-all|coverage``: the region's registers."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certsvc.errors import BadRequestError
from certsvc_cli.errors import handle_errors
from certsvc_cli.operator import operator_principal

if TYPE_CHECKING:
    from certsvc.jobs.api import JobProgress
    from certsvc.services.catalogue import CatalogueService
    from certsvc.services.context import ServiceContext
    from certsvc.services.matter_register import MaterialSpec, MatterRegisterService
    from certsvc.services.seal_coverage import SealCoverageService
    from certsvc.services.seal_rollout import SealRolloutService

__all__ = ["catalogue", "matter_app", "seal_coverage", "seal_issue_all"]

matter_app = typer.Typer(
    help="The register of 政务服务事项 and the licences that replace their materials.",
    no_args_is_help=True,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]
ExecuteOpt = Annotated[bool, typer.Option("--execute", help="act; without it this is a dry run")]


# Service imports wait for the command that needs them: `certsvc --help` loads typer only.
def _ctx() -> ServiceContext:
    from certsvc.config import load_settings
    from certsvc.services.context import build_context

    return build_context(load_settings())


def _catalogue() -> CatalogueService:
    from certsvc.services.catalogue import CatalogueService

    return CatalogueService(_ctx())


def _matters() -> MatterRegisterService:
    from certsvc.services.matter_register import MatterRegisterService

    return MatterRegisterService(_ctx())


def _rollout() -> SealRolloutService:
    from certsvc.services.seal_rollout import SealRolloutService

    return SealRolloutService(_ctx())


def _coverage() -> SealCoverageService:
    from certsvc.services.seal_coverage import SealCoverageService

    return SealCoverageService(_ctx())


def _json(value: Any) -> None:
    typer.echo(json.dumps(value, ensure_ascii=False, indent=2, default=_default))


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return str(value)


@handle_errors
def catalogue(as_json: JsonOpt = False) -> None:
    """The licence catalogue (GB/T 36902): types, definers, holders, validity, issuing departments."""
    types = _catalogue().types()
    if as_json:
        _json({"types": [asdict(t) for t in types]})
        return
    for t in types:
        term = f"{t.validity_years} 年" + (
            f"（最长 {t.validity_max_years} 年）" if t.validity_max_years else ""
        )
        validity = {"term": term, "long_term": "长期", "per_licence": "按证照"}.get(
            t.validity_kind or "", "-"
        )
        typer.echo(f"{t.type_code}  {t.name}  ({t.template}, template {t.template_version})")
        typer.echo(
            f"    证照定义机构 {t.definer_name or '-'} ({t.definer_code})  持证主体 {', '.join(t.holder_kinds) or '-'}  有效期 {validity}"
        )
        typer.echo(
            f"    发证机关 {', '.join(f'{d.name} ({d.code})' for d in t.departments) or '(none allowed yet)'}"
        )


# --- matters ---------------------------------------------------------------------------------
@matter_app.command("load")
@handle_errors
def matter_load(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="CSV or XLSX: 事项编码, 事项名称, 材料名称, 可替代证照",
            exists=True,
            dir_okay=False,
        ),
    ],
    execute: ExecuteOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Check a register file and, with --execute, apply it (each changed matter gets a new version)."""
    report = _matters().load(path, principal=operator_principal(), execute=execute)
    if as_json:
        _json(asdict(report))
        return
    verb = "applied" if report.is_applied else "dry run (use --execute to apply)"
    typer.echo(
        f"{report.source}: {report.rows} rows, {report.matters} matters — added {len(report.added)}, "
        f"changed {len(report.changed)}, unchanged {len(report.unchanged)}; {verb}"
    )


@matter_app.command("list")
@handle_errors
def matter_list(as_json: JsonOpt = False) -> None:
    """Every matter with its materials and the licence types that replace them."""
    from certsvc.domain.paging import every_item

    service, operator = _matters(), operator_principal()
    # Read in registration order a page at a time; shown by code, as an operator looks them up.
    matters = sorted(
        every_item(lambda request: service.page(request, principal=operator)), key=lambda m: m.code
    )
    if as_json:
        _json([asdict(m) for m in matters])
        return
    for m in matters:
        typer.echo(f"{m.code}  {m.name}  (v{m.version})")
        for material in m.materials:
            by = ", ".join(material.licence_types) or "不可免提交"
            typer.echo(f"    {material.name}  ← {by}")


@matter_app.command("set")
@handle_errors
def matter_set(
    code: Annotated[str, typer.Argument(help="事项编码")],
    name: Annotated[str, typer.Argument(help="事项名称")],
    material: Annotated[
        list[str],
        typer.Option(
            "--material",
            help="材料名称, or 材料名称=type;type (slug, 证照类型代码 or name); repeat",
        ),
    ],
    as_json: JsonOpt = False,
) -> None:
    """Register a matter or replace its materials (audited as a new version)."""
    specs = []
    for text in material:
        material_name, _, types = text.partition("=")
        specs.append(
            _material_spec(
                material_name,
                tuple(t for t in (p.strip() for p in types.replace("；", ";").split(";")) if t),
            )
        )
    info = _matters().put(
        code, name=name, materials=specs, principal=operator_principal(), source="cli"
    )
    if as_json:
        _json(asdict(info))
    else:
        typer.echo(
            f"{info.code} {info.name}: version {info.version}, {len(info.materials)} materials"
        )


@matter_app.command("delete")
@handle_errors
def matter_delete(code: Annotated[str, typer.Argument(help="事项编码")]) -> None:
    """Remove a matter from the register (its versions stay in the audit log)."""
    _matters().delete(code, principal=operator_principal())
    typer.echo(f"deleted matter {code}")


@matter_app.command("history")
@handle_errors
def matter_history(
    code: Annotated[str, typer.Argument(help="事项编码")], as_json: JsonOpt = False
) -> None:
    """Every version of a matter, from the audit log."""
    versions = _matters().history(code, principal=operator_principal())
    if as_json:
        _json([asdict(v) for v in versions])
        return
    for v in versions:
        typer.echo(f"v{v.version}  {v.at}  {v.action}  by {v.actor}  {v.name or ''}")
        for m in v.materials:
            typer.echo(f"    {m.name}  ← {', '.join(m.licence_types) or '-'}")


# --- seals for every department -----------------------------------------------------------------
@handle_errors
def seal_issue_all(
    path: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="departments CSV/XLSX: code, name, name_mn, name_mn_source, level, parent, area_code, seal_kinds",
            exists=True,
            dir_okay=False,
        ),
    ],
    execute: ExecuteOpt = False,
    workers: Annotated[
        int | None,
        typer.Option("--workers", help="worker processes (default: all cores; 0: in this process)"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make every department of the file and the seals it lacks, as a durable, resumable job.

    Dry run by default. With --execute the job is stored and run; running the same file again
    resumes an unfinished job, and after it finished makes nothing twice.
    """
    service, operator = _rollout(), operator_principal()
    if not execute:
        plan = service.plan(path, principal=operator)
        if as_json:
            _json({"dry_run": True, **asdict(plan)})
            return
        typer.echo(
            f"{plan.source}: {plan.departments} departments ({plan.departments_new} new), "
            f"{plan.seals_to_make} seals to make, {plan.seals_present} present"
        )
        for level, n in plan.by_level.items():
            typer.echo(f"  {level}: {n}")
        if plan.without_mongolian_name:
            typer.echo(
                f"warning: {plan.without_mongolian_name} departments of 内蒙古 have no Mongolian name: their seals are "
                "drawn in Chinese only until an attested name is set (certsvc department update CODE --name-mn)",
                err=True,
            )
        typer.echo("dry run: nothing stored; run again with --execute")
        return
    created = service.create_job(path, principal=operator)
    if created.is_existing and not as_json:
        typer.echo(f"resuming job {created.job_id} ({created.total} departments)", err=True)
    progress = service.run(
        created.job_id,
        principal=operator,
        workers=_default_workers() if workers is None else workers,
    )
    _job_summary(progress, as_json=as_json)
    if progress.failed:
        raise typer.Exit(1)


def _job_summary(p: JobProgress, *, as_json: bool) -> None:
    if as_json:
        _json({"job": asdict(p)})
        return
    typer.echo(
        f"job {p.job_id} {p.state}: {p.total} departments — done {p.done}, already provisioned {p.skipped}, "
        f"failed {p.failed} (failures: certsvc batch failures {p.job_id})"
    )


@handle_errors
def seal_coverage(
    expiring_days: Annotated[
        int,
        typer.Option("--expiring-days", min=0, max=3650, help="list seals ending within N days"),
    ] = 90,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="write the chart (PNG) to this file")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Departments with and without a valid seal, by level and area; expiring seals."""
    service = _coverage()
    report = service.report(principal=operator_principal(), expiring_days=expiring_days)
    if plot is not None:
        if plot.is_dir():
            raise BadRequestError(f"{plot} is a directory; name the PNG file", code="bad_path")
        plot.write_bytes(service.chart(report))
    if as_json:
        data = asdict(report)
        data.update(
            without_valid_seal=report.without_valid_seal,
            share_covered=round(report.share_covered, 4),
        )
        for row, r in zip(data["rows"], report.rows, strict=True):
            row["without_valid_seal"] = r.without_valid_seal
        _json(data)
        return
    typer.echo(
        f"departments with a valid seal: {report.with_valid_seal}/{report.departments} ({report.share_covered:.0%})"
    )
    typer.echo(f"  {'level':8} {'area':6} {'depts':>6} {'sealed':>6} {'missing':>7}")
    for r in report.rows:
        typer.echo(
            f"  {r.level:8} {r.area_code:6} {r.departments:6} {r.with_valid_seal:6} {r.without_valid_seal:7}"
        )
    if report.uncovered:
        typer.echo("without a valid seal:")
        for u in report.uncovered:
            typer.echo(f"  {u.code} {u.name} ({u.level}, {u.area_code})")
    typer.echo(f"seals ending within {report.expiring_days} days: {len(report.expiring)}")
    for e in report.expiring:
        typer.echo(
            f"  seal {e.seal_id} {e.department_name} {e.purpose}: {e.valid_until.date()} ({e.days_left} days)"
        )
    if plot is not None:
        typer.echo(f"chart: {plot}")


def _material_spec(name: str, licence_types: tuple[str, ...]) -> MaterialSpec:
    from certsvc.services.matter_register import MaterialSpec

    return MaterialSpec(name, licence_types)


def _default_workers() -> int:
    from certsvc.jobs.local import default_workers

    return default_workers()
