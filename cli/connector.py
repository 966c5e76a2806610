"""`certsvc upstream ...` (a 盟 deployment's connector) and `certsvc hub ...` (the regional hub)."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certsvc.errors import BadRequestError
from certsvc_cli.errors import handle_errors

if TYPE_CHECKING:
    from certsvc.services.context import ServiceContext
    from certsvc.services.hub import HubService
    from certsvc.services.upstream import UpstreamConnector

__all__ = ["hub_app", "upstream_app"]

upstream_app = typer.Typer(
    help="Delivery of licence changes to the regional hub (对接).", no_args_is_help=True
)
hub_app = typer.Typer(
    help="The regional hub: its member deployments (CERTSVC_ROLE=hub).", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def _context() -> ServiceContext:
    from certsvc.config import load_settings
    from certsvc.services.context import build_context

    return build_context(load_settings())


def _connector(ctx: ServiceContext | None = None) -> UpstreamConnector:
    from certsvc.services.upstream import UpstreamConnector

    return UpstreamConnector(ctx or _context())


def _hub() -> HubService:
    from certsvc.services.hub import HubService

    return HubService(_context())


def _json(value: Any) -> None:
    plain = asdict(value) if hasattr(value, "__dataclass_fields__") else value
    if isinstance(value, list):
        plain = [asdict(v) for v in value]
    typer.echo(json.dumps(plain, ensure_ascii=False, indent=2, default=str))


@upstream_app.command("status")
@handle_errors
def upstream_status(as_json: JsonOption = False) -> None:
    """What waits to be delivered, what was delivered, and every failure with its reason. Exit 1 if any failed."""
    status = _connector().status()
    if as_json:
        _json(status)
    else:
        typer.echo(f"upstream: {status.upstream_url or '(not configured: CERTSVC_UPSTREAM_URL)'}")
        counts = status.counts
        typer.echo(
            f"delivered {counts.get('delivered', 0)}  pending {counts.get('pending', 0)}  failed {counts.get('failed', 0)}"
            + (
                f"  (oldest pending since {status.oldest_pending_at.isoformat()})"
                if status.oldest_pending_at
                else ""
            )
        )
        for entry in status.unfinished:
            when = (
                f", next try {entry.next_attempt_at.isoformat()}" if entry.next_attempt_at else ""
            )
            typer.echo(
                f"  {entry.status:8} {entry.delivery_id} {entry.identifier_base} #{entry.sequence} {entry.event}"
                f" v{entry.version}: {entry.attempts} attempts{when}; {entry.last_error or ''}"
            )
    raise typer.Exit(1 if status.counts.get("failed", 0) else 0)


@upstream_app.command("retry")
@handle_errors
def upstream_retry(
    delivery_ids: Annotated[
        list[str] | None, typer.Argument(help="delivery ids (see status); none: every failed one")
    ] = None,
    deliver: Annotated[
        bool, typer.Option("--deliver/--no-deliver", help="deliver what is due right away")
    ] = True,
) -> None:
    """Replay failed deliveries: they become pending again, in their place in each licence's order."""
    connector = _connector()
    count = connector.retry(delivery_ids or None)
    typer.echo(f"{count} failed deliveries pending again")
    if deliver and count:
        typer.echo(f"delivered {connector.deliver_due()}")


@upstream_app.command("backfill")
@handle_errors
def upstream_backfill(
    execute: Annotated[
        bool, typer.Option("--execute", help="queue them (default: only count)")
    ] = False,
) -> None:
    """Queue the licences issued before the hub was configured (each as a `sync` of its current state)."""
    count = _connector().backfill(execute=execute)
    typer.echo(
        f"{count} licences {'queued' if execute else 'would be queued (dry run: add --execute)'}"
    )


@upstream_app.command("deliver")
@handle_errors
def upstream_deliver(
    once: Annotated[
        bool,
        typer.Option("--once", help="deliver what is due, then exit (default: keep delivering)"),
    ] = False,
) -> None:
    """Send due deliveries to the hub: for deployments whose changes are not made by `certsvc serve`
    (which sends them itself), e.g. CLI-only or batch machines."""
    ctx = _context()
    connector = _connector(ctx)
    if once:
        typer.echo(f"delivered {connector.deliver_due()}")
        return
    if ctx.settings.upstream_url is None:
        raise BadRequestError(
            "CERTSVC_UPSTREAM_URL is not set: there is no hub to deliver to", code="no_upstream"
        )
    stop = threading.Event()
    try:
        connector.run(stop)
    except KeyboardInterrupt:
        stop.set()


@hub_app.command("add-member")
@handle_errors
def hub_add_member(
    name: Annotated[str, typer.Argument(help="the member deployment's name, e.g. xilingol")],
    roots: Annotated[
        Path | None,
        typer.Option(
            help="PEM file of the member's trust roots (default: pinned from its first delivery)"
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Register a 盟 deployment; prints its credential once (its CERTSVC_UPSTREAM_CREDENTIAL)."""
    pem = None
    if roots is not None:
        try:
            pem = roots.read_bytes()
        except OSError as exc:
            raise BadRequestError(
                f"cannot read {roots}: {exc.strerror}", code="unreadable_file"
            ) from exc
    member = _hub().add_member(name, trust_roots_pem=pem)
    if as_json:
        _json(member)
        return
    typer.echo(f"member {member.name} (id {member.id})")
    typer.echo(f"credential (shown once): {member.credential}")
    if not member.has_trust_roots:
        typer.echo("trust roots: pinned from the first delivery")


@hub_app.command("members")
@handle_errors
def hub_members(as_json: JsonOption = False) -> None:
    """The registered members with how many licences and deliveries each has."""
    members = _hub().members()
    if as_json:
        _json(members)
        return
    for m in members:
        roots = "roots pinned" if m.has_trust_roots else "no roots yet"
        typer.echo(f"{m.name:20} {m.licences:6} licences {m.deliveries:7} deliveries  {roots}")
