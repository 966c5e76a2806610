"""``certsvc tsa``: the built-in time-stamping authority of an embedded deployment.

``info`` says which TSA seals use and until when its certificates vouch for time-stamps;
``renew`` gives the built-in TSA a new key and certificate (then ``certsvc ltv renew`` moves
the licences' archival time-stamps onto it); ``stamp`` time-stamps any file with the TSA seals
use (RFC 3161 token, verifiable with ``openssl ts -verify``). Other machines reach the same TSA
over HTTP at ``POST /api/v1/tsa`` (``certsvc serve``, an API key with the ``timestamping`` role).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certsvc.errors import BadRequestError
from certsvc_cli.errors import handle_errors

if TYPE_CHECKING:
    from certsvc.services.context import ServiceContext
    from certsvc.services.timestamping import DevTsaInfo

__all__ = ["app"]

app = typer.Typer(
    help="The built-in time-stamping authority (RFC 3161, GM/T 0033).", no_args_is_help=True
)

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def _context() -> ServiceContext:
    from certsvc.config import load_settings
    from certsvc.services.context import build_context

    return build_context(load_settings())


def _as_dict(info: DevTsaInfo) -> dict[str, object]:
    data = asdict(info)
    data["not_before"], data["not_after"] = info.not_before.isoformat(), info.not_after.isoformat()
    return data


@app.command()
@handle_errors
def info(as_json: JsonOpt = False) -> None:
    """Which TSA seals use, and the built-in TSA's certificates (and until when they vouch)."""
    from certsvc.services.timestamping import built_in_families, dev_tsa_info

    ctx = _context()
    settings = ctx.settings
    outside = {
        "standard": settings.tsa_url is not None,
        "sm2": (settings.tsa_sm2_url or settings.tsa_url) is not None,
    }
    built_in = [_as_dict(dev_tsa_info(ctx, family)) for family in built_in_families(ctx)]
    if as_json:
        typer.echo(
            json.dumps({"outside_tsa": outside, "built_in": built_in}, ensure_ascii=False, indent=2)
        )
        return
    if outside["standard"] or outside["sm2"]:
        typer.echo(
            "seals use an outside TSA (CERTSVC_TSA_URL / CERTSVC_TSA_SM2_URL); the built-in one answers /api/v1/tsa"
        )
    else:
        typer.echo("seals use the built-in TSA (in-process); it also answers POST /api/v1/tsa")
    for item in built_in:
        typer.echo(
            f"  {item['family']}: {item['subject']} serial {item['serial_hex']}, valid {item['not_before']} .. "
            f"{item['not_after']}, policy {item['policy_oid']}, accuracy {item['accuracy_ms']} ms"
        )
    if not built_in:
        typer.echo("  no built-in TSA provisioned (run certsvc init)")


@app.command()
@handle_errors
def renew(
    family: Annotated[
        str, typer.Option(help="ecdsa (RSA/ECDSA seals) or sm2 (SM2 seals)")
    ] = "ecdsa",
    validity_days: Annotated[
        int | None,
        typer.Option(
            "--validity-days", min=1, max=36500, help="shorter than its root's remaining life"
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """A new key and certificate for the built-in TSA; time-stamps made so far stay valid
    until their own certificate ends (renew them with `certsvc ltv renew`)."""
    from certsvc.services.timestamping import renew_dev_tsa

    made = renew_dev_tsa(_context(), family, validity_days=validity_days)
    if as_json:
        typer.echo(json.dumps(_as_dict(made), ensure_ascii=False, indent=2))
    else:
        typer.echo(
            f"{made.family} TSA renewed: serial {made.serial_hex}, valid until {made.not_after.isoformat()}"
        )
        typer.echo(
            "next: certsvc ltv renew --within-days N --execute  (licences stamped by the old certificate)"
        )


@app.command()
@handle_errors
def stamp(
    file: Annotated[
        Path,
        typer.Argument(help="the file to time-stamp", exists=True, dir_okay=False, readable=True),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="token file (default: FILE.tst)")
    ] = None,
    digest: Annotated[
        str, typer.Option(help="sha256, sha384, sha512, or sm3 (the SM2 TSA)")
    ] = "sha256",
) -> None:
    """Time-stamp a file with the TSA seals use; writes the DER TimeStampToken."""
    target = out or file.with_name(file.name + ".tst")
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise BadRequestError(
            f"cannot read {file}: {exc.strerror}", code="unreadable_file"
        ) from exc
    from certsvc.services.timestamping import stamp_data

    stamped = stamp_data(_context(), data, digest=digest)
    target.write_bytes(stamped.token_der)
    typer.echo(
        f"{target}: {stamped.digest_algorithm} time-stamp, genTime {stamped.gen_time.isoformat()}"
    )
