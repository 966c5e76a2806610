"""`certsvc webhook ...`: webhooks for licence state changes, by the local operator."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from certsvc_cli.admin_common import JsonOption, RowIdArg, context, every, out
from certsvc_cli.errors import handle_errors
from certsvc_cli.operator import operator_principal
from certsvc_cli.tables import print_table

if TYPE_CHECKING:
    from certsvc.services.webhook_admin import WebhookAdminService

__all__ = ["webhook_app"]

webhook_app = typer.Typer(help="Webhooks for licence state changes.", no_args_is_help=True)


def _webhooks() -> WebhookAdminService:
    from certsvc.services.webhook_admin import WebhookAdminService

    return WebhookAdminService(context())


@webhook_app.command("add")
@handle_errors
def webhook_add(department: str, url: str, as_json: JsonOption = False) -> None:
    """Register a webhook URL for a department; prints the HMAC secret once."""
    hook = _webhooks().add_webhook(department, url=url, principal=operator_principal())
    out(hook, as_json, f"webhook {hook.id} -> {hook.url}\nsecret (shown once): {hook.secret}")


@webhook_app.command("list")
@handle_errors
def webhook_list(department: str, as_json: JsonOption = False) -> None:
    """List a department's webhooks."""
    hooks = _webhooks()
    rows = every(lambda page: hooks.list(department, principal=operator_principal(), page=page))
    if as_json:
        out(rows, as_json, "")
        return
    print_table(("id", "state", "url"), [(w.id, "active" if w.is_active else "off", w.url) for w in rows])


@webhook_app.command("disable")
@handle_errors
def webhook_disable(webhook_id: RowIdArg, as_json: JsonOption = False) -> None:
    """Stop sending to a webhook (events pending for it wait until it is enabled)."""
    hook = _webhooks().set_active(webhook_id, is_active=False, principal=operator_principal())
    out(hook, as_json, f"webhook {hook.id} disabled")


@webhook_app.command("enable")
@handle_errors
def webhook_enable(webhook_id: RowIdArg, as_json: JsonOption = False) -> None:
    """Send to a disabled webhook again."""
    hook = _webhooks().set_active(webhook_id, is_active=True, principal=operator_principal())
    out(hook, as_json, f"webhook {hook.id} enabled")


@webhook_app.command("delete")
@handle_errors
def webhook_delete(webhook_id: RowIdArg) -> None:
    """Remove a webhook and its delivery log."""
    _webhooks().delete(webhook_id, principal=operator_principal())
    typer.echo(f"webhook {webhook_id} deleted")


@webhook_app.command("rotate-secret")
@handle_errors
def webhook_rotate_secret(webhook_id: RowIdArg, as_json: JsonOption = False) -> None:
    """Give a webhook a new signing secret; prints it once."""
    rotated = _webhooks().rotate_secret(webhook_id, principal=operator_principal())
    out(rotated, as_json, f"webhook {rotated.id} -> {rotated.url}\nnew secret (shown once): {rotated.secret}")


@webhook_app.command("deliveries")
@handle_errors
def webhook_deliveries(
    webhook_id: RowIdArg,
    limit: Annotated[int, typer.Option(min=1, max=500, help="newest N events")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The delivery log: newest events first, each with the HTTP status of every attempt."""
    from certsvc.domain.paging import PageRequest

    rows = list(_webhooks().deliveries(webhook_id, principal=operator_principal(), page=PageRequest(limit=limit)).items)
    out(
        rows,
        as_json,
        "\n".join(
            f"{d.id}  {d.status:9}  {d.event_type:22}  attempts: "
            + (" ".join(str(a.http_status or a.error) for a in d.attempt_log) or "-")
            for d in rows
        ),
    )
