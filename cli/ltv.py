"""``certsvc ltv``: keep issued licences verifiable (archival renewal of their time-stamps).

``certsvc ltv renew`` is a batch job like ``certsvc batch resign``: dry run by default,
``--execute`` to act, resumable with ``certsvc batch resume JOB``, failures listed by
``certsvc batch failures JOB``.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated

import typer

from certsvc_cli.batch import ExecuteOpt, JsonOpt, WorkersOpt, _announce, _run, _summary
from certsvc_cli.errors import handle_errors
from certsvc_cli.operator import operator_principal

__all__ = ["app"]

app = typer.Typer(
    help="Long-term validation: renew the archival time-stamps of issued licences.",
    no_args_is_help=True,
)


@app.command()
@handle_errors
def renew(
    within_days: Annotated[
        int,
        typer.Option(
            "--within-days",
            min=0,
            max=36500,
            help="renew licences whose newest time-stamp's TSA certificate ends within this many days",
        ),
    ] = 365,
    weak_digest: Annotated[
        list[str] | None,
        typer.Option(
            "--weak-digest",
            help="also renew licences whose newest time-stamp uses this digest (repeatable), e.g. sha1",
        ),
    ] = None,
    department: Annotated[
        str | None, typer.Option(help="only licences of this department (code)")
    ] = None,
    execute: ExecuteOpt = False,
    workers: WorkersOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a new document time-stamp (and current validation data) to every licence whose
    newest time-stamp nears the end of its TSA certificate or uses a weakened digest."""
    from certsvc.config import load_settings
    from certsvc.services.batch import BatchService
    from certsvc.services.context import build_context
    from certsvc.services.ltv_renewal import RenewalPolicy, create_renewal_job, plan_renewal

    ctx = build_context(load_settings())
    principal = operator_principal()
    if not execute:
        policy = RenewalPolicy.of(
            now=ctx.clock.now(), within_days=within_days, weak_digests=weak_digest or ()
        )
        plan = plan_renewal(ctx, policy, principal=principal, department_code=department)
        if as_json:
            summary = {k: v for k, v in asdict(plan).items() if k != "items"}
            summary["renew_before"] = plan.renew_before.isoformat()
            typer.echo(
                json.dumps(
                    {"dry_run": True, **summary, "licences": [i["key"] for i in plan.items]},
                    ensure_ascii=False,
                    indent=2,
                )
            )
        else:
            typer.echo(
                f"dry run: {plan.scanned} licence(s) read; {plan.due} due for renewal (time-stamp ends before "
                f"{plan.renew_before.isoformat()}), {plan.not_due} not due, {plan.without_timestamp} without a "
                f"time-stamp (B-B), {plan.revoked_or_cancelled} revoked or cancelled.\n"
                "nothing was stamped; add --execute to renew"
            )
        return
    created, _ = create_renewal_job(
        ctx,
        within_days=within_days,
        weak_digests=weak_digest or (),
        principal=principal,
        department_code=department,
    )
    _announce(created, as_json=as_json)
    _summary(
        _run(BatchService(ctx), created.job_id, workers=workers, as_json=as_json), as_json=as_json
    )
