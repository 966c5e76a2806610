"""`certsvc client ...`: API clients and their keys, by the local operator."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from certsvc_cli.admin_common import JsonOption, RowIdArg, context, every, out
from certsvc_cli.errors import handle_errors
from certsvc_cli.operator import operator_principal
from certsvc_cli.tables import print_table

if TYPE_CHECKING:
    from certsvc.services.api_clients import ApiClientService

__all__ = ["client_app"]

client_app = typer.Typer(help="API clients and their keys.", no_args_is_help=True)


def _clients() -> ApiClientService:
    from certsvc.services.api_clients import ApiClientService

    return ApiClientService(context())


@client_app.command("add")
@handle_errors
def client_add(
    name: str,
    role: Annotated[str, typer.Option(help="issuer | operator | sharing")],
    department: Annotated[str | None, typer.Option(help="department code (issuer, sharing)")] = None,
    expires: Annotated[datetime | None, typer.Option(help="expiry, ISO 8601 UTC")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API client. The key is printed once and cannot be shown again."""
    from datetime import UTC

    expires_at = expires.replace(tzinfo=UTC) if expires and expires.tzinfo is None else expires
    key = _clients().add_client(
        name=name, role=role, department_code=department, expires_at=expires_at, principal=operator_principal()
    )
    out({"id": key.client_id, "api_key": key.api_key}, as_json, f"client {key.client_id}\napi key (shown once): {key.api_key}")


@client_app.command("list")
@handle_errors
def client_list(department: Annotated[str | None, typer.Option()] = None, as_json: JsonOption = False) -> None:
    """List API clients (never their keys)."""
    admin = _clients()
    rows = every(lambda page: admin.list_clients(principal=operator_principal(), page=page, department_code=department))
    if as_json:
        out(rows, as_json, "")
        return
    print_table(
        ("id", "role", "department", "name", "state", "expires"),
        [
            (c.id, c.role, c.department_code, c.name, "REVOKED" if c.revoked_at else "active", c.expires_at)
            for c in rows
        ],
    )


@client_app.command("revoke")
@handle_errors
def client_revoke(client_id: RowIdArg, as_json: JsonOption = False) -> None:
    """Revoke a client's key at once."""
    c = _clients().revoke_client(client_id, principal=operator_principal())
    out(c, as_json, f"client {c.id} revoked")
