"""`certsvc department ...`: departments (发证机关), by the local operator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from certsvc_cli.admin_common import JsonOption, context, out
from certsvc_cli.errors import handle_errors
from certsvc_cli.operator import operator_principal
from certsvc_cli.tables import print_table

if TYPE_CHECKING:
    from certsvc.services.departments import DepartmentService

__all__ = ["department_app"]

department_app = typer.Typer(help="Departments (发证机关).", no_args_is_help=True)

NameMnOption = Annotated[
    str | None, typer.Option("--name-mn", help="the name in traditional Mongolian script (U+1800–U+18AF)")
]
BilingualOption = Annotated[
    bool | None,
    typer.Option("--bilingual/--chinese-only", help="seals and licences in Mongolian and Chinese (default: area 15xxxx)"),
]


def _departments() -> DepartmentService:
    from certsvc.services.departments import DepartmentService

    return DepartmentService(context())


@department_app.command("add")
@handle_errors
def department_add(
    code: Annotated[str, typer.Argument(help="统一社会信用代码")],
    name: Annotated[str, typer.Argument()],
    area_code: Annotated[str, typer.Option("--area-code", help="GB/T 2260 code")],
    name_mn: NameMnOption = None,
    bilingual: BilingualOption = None,
    as_json: JsonOption = False,
) -> None:
    """Register a department (bilingual by default when its area code is 15xxxx, 内蒙古)."""
    d = _departments().add_department(
        code=code, name=name, area_code=area_code, name_mn=name_mn, is_bilingual=bilingual, principal=operator_principal()
    )
    out(d, as_json, f"added department {d.code} {d.name}" + (f" / {d.name_mn}" if d.name_mn else ""))
    _warn(d.warnings)


@department_app.command("update")
@handle_errors
def department_update(
    code: Annotated[str, typer.Argument(help="统一社会信用代码")],
    name_mn: NameMnOption = None,
    bilingual: BilingualOption = None,
    as_json: JsonOption = False,
) -> None:
    """Set a department's Mongolian name or its bilingual setting."""
    d = _departments().update_department(code, name_mn=name_mn, is_bilingual=bilingual, principal=operator_principal())
    out(d, as_json, f"department {d.code}: bilingual={'yes' if d.is_bilingual else 'no'} name_mn={d.name_mn or '-'}")
    _warn(d.warnings)


def _warn(warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)


@department_app.command("list")
@handle_errors
def department_list(as_json: JsonOption = False) -> None:
    """List departments."""
    rows = _departments().list_departments(principal=operator_principal())
    if as_json:
        out(rows, as_json, "")
        return
    print_table(
        ("code", "status", "area", "名称 name", "seals"),
        [(d.code, d.status, d.area_code, d.name, len(d.seals)) for d in rows],
    )


@department_app.command("show")
@handle_errors
def department_show(code: str, as_json: JsonOption = False) -> None:
    """Show a department and its seals."""
    d = _departments().show_department(code, principal=operator_principal())
    lines = [f"{d.code} {d.name} area {d.area_code} status {d.status}"]
    lines += [f"  Mongolian name: {d.name_mn or '-'}  bilingual: {'yes' if d.is_bilingual else 'no'}"]
    lines += [f"  licence types: {', '.join(d.licence_types) or '(none)'}"]
    lines += [
        f"  seal {s.id}: {s.name} ({s.purpose}) {s.algorithm} {s.status} until {s.valid_until.date()}"
        + ("  [default]" if s.is_default else "")
        for s in d.seals
    ]
    out(d, as_json, "\n".join(lines))


@department_app.command("types")
@handle_errors
def department_types(
    code: Annotated[str, typer.Argument(help="department code")],
    add: Annotated[list[str] | None, typer.Option("--add", help="allow this template (repeatable)")] = None,
    remove: Annotated[list[str] | None, typer.Option("--remove", help="withdraw this template (repeatable)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Show, allow or withdraw the licence types (templates) a department may issue."""
    from certsvc.services.licence_types import LicenceTypeService

    service = LicenceTypeService(context())
    if add or remove:
        types = service.change(code, add=add or [], remove=remove or [], principal=operator_principal())
    else:
        types = service.types(code, principal=operator_principal())
    out(types, as_json, "\n".join(types.templates) or f"department {types.department_code} may issue no licence type")
