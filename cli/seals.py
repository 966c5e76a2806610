"""`certsvc seal ...`: seals of departments, by the local operator."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from certsvc.errors import BadRequestError
from certsvc_cli.admin_common import JsonOption, RowIdArg, context, every, out
from certsvc_cli.errors import handle_errors
from certsvc_cli.operator import operator_principal
from certsvc_cli.tables import print_table

if TYPE_CHECKING:
    from certsvc.services.provisioning import TokenKeyName
    from certsvc.services.seal_admin import SealAdminService

__all__ = ["seal_app"]

seal_app = typer.Typer(help="Seals of departments.", no_args_is_help=True)


def _seals(**overrides: object) -> SealAdminService:
    from certsvc.services.seal_admin import SealAdminService

    return SealAdminService(context(**overrides))


@seal_app.command("add")
@handle_errors
def seal_add(
    department: Annotated[str, typer.Argument(help="department code")],
    name: Annotated[str, typer.Option(help="e.g. 行政审批专用章")],
    purpose: Annotated[
        str | None, typer.Option(help="what it seals for (公章, 行政许可专用章 ...); defaults to the name")
    ] = None,
    algorithm: Annotated[str, typer.Option(help="rsa-3072 | ecdsa-p256 | sm2")] = "ecdsa-p256",
    validity_days: Annotated[int, typer.Option()] = 1825,
    name_mn: Annotated[str | None, typer.Option("--name-mn", help="the seal's name in Mongolian script")] = None,
    ring_layout: Annotated[
        str, typer.Option("--ring-layout", help="rings: Mongolian outer ring | halves: Mongolian upper half")
    ] = "rings",
    key: Annotated[Path | None, typer.Option(help="import: private key PEM")] = None,
    certificate: Annotated[Path | None, typer.Option(help="import: certificate PEM (then its chain)")] = None,
    key_passphrase_env: Annotated[
        str | None, typer.Option(help="import: name of the environment variable holding the key's passphrase")
    ] = None,
    key_store: Annotated[
        str, typer.Option("--key-store", help="file: an encrypted key file | pkcs11: generated in an HSM token")
    ] = "file",
    token_label: Annotated[str | None, typer.Option("--token-label", help="pkcs11: the token's label")] = None,
    key_label: Annotated[
        str | None, typer.Option("--key-label", help="pkcs11: the new key's label in the token (unique there)")
    ] = None,
    pin_file: Annotated[
        Path | None,
        typer.Option("--pin-file", help="pkcs11: file with the user PIN (else CERTSVC_PKCS11_PIN[_FILE])"),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make a seal from the development CA (key file or HSM token), or import --key and --certificate."""
    token_key = _token_key(key_store, token_label, key_label)
    overrides: dict[str, object] = {"pkcs11_pin_file": pin_file, "pkcs11_pin": None} if pin_file else {}
    seals = _seals(**overrides)
    if key or certificate:
        if token_key is not None:
            raise BadRequestError("an imported key is a key file: drop --key-store pkcs11", code="import_incomplete")
        if not (key and certificate):
            raise BadRequestError("give both --key and --certificate to import a seal", code="import_incomplete")
        import os

        passphrase = os.environ.get(key_passphrase_env, "").encode() if key_passphrase_env else None
        seal = seals.import_seal(
            department,
            name=name,
            key_pem=_read(key),
            certificate_pem=_read(certificate),
            key_passphrase=passphrase or None,
            name_mn=name_mn,
            ring_layout=ring_layout,
            principal=operator_principal(),
            purpose=purpose,
        )
    else:
        seal = seals.add_seal(
            department,
            name=name,
            algorithm=algorithm,
            validity_days=validity_days,
            name_mn=name_mn,
            ring_layout=ring_layout,
            principal=operator_principal(),
            purpose=purpose,
            token_key=token_key,
        )
    role = "the department's default seal" if seal.is_default else "not the default: certsvc seal default to sign with it"
    out(seal, as_json, f"seal {seal.id}: {seal.name} ({seal.algorithm}) for {seal.department_code}; {role}")


def _token_key(key_store: str, token_label: str | None, key_label: str | None) -> TokenKeyName | None:
    from certsvc.services.provisioning import TokenKeyName

    if key_store == "file":
        if token_label or key_label:
            raise BadRequestError("--token-label and --key-label need --key-store pkcs11", code="bad_key_store")
        return None
    if key_store != "pkcs11":
        raise BadRequestError(f"unknown key store {key_store!r}: file or pkcs11", code="bad_key_store")
    if not token_label or not key_label:
        raise BadRequestError("--key-store pkcs11 needs --token-label and --key-label", code="bad_key_store")
    return TokenKeyName(token_label=token_label, key_label=key_label)


@seal_app.command("list")
@handle_errors
def seal_list(department: str, as_json: JsonOption = False) -> None:
    """List a department's seals."""
    seals = _seals()
    rows = every(lambda page: seals.list_seals(department, principal=operator_principal(), page=page))
    if as_json:
        out(rows, as_json, "")
        return
    print_table(
        ("id", "status", "algorithm", "名称 name", "用途 purpose", "valid until", "default"),
        [
            (s.id, s.status, s.algorithm, s.name, s.purpose, s.valid_until.date(), "default" if s.is_default else "")
            for s in rows
        ],
    )


@seal_app.command("default")
@handle_errors
def seal_default(seal_id: int, as_json: JsonOption = False) -> None:
    """Make a seal its department's default: it signs every template that names no seal purpose."""
    seal = _seals().set_default_seal(seal_id, principal=operator_principal())
    out(seal, as_json, f"seal {seal.id} ({seal.name}) is now the default seal of {seal.department_code}")


@seal_app.command("retire")
@handle_errors
def seal_retire(seal_id: RowIdArg, as_json: JsonOption = False) -> None:
    """Retire a seal: no new versions are sealed with it; files it sealed stay valid."""
    seal = _seals().retire_seal(seal_id, principal=operator_principal())
    out(seal, as_json, f"seal {seal.id} retired")


@seal_app.command("revoke")
@handle_errors
def seal_revoke(
    seal_id: int,
    reason: Annotated[str, typer.Option(help="key-compromise, superseded, affiliation-changed, cessation-of-operation, unspecified")],
    at: Annotated[datetime | None, typer.Option(help="from when the key is not trusted, UTC (default now)")] = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a seal's certificate: licences time-stamped before --at stay valid, later ones do not."""
    from datetime import UTC

    from certsvc.services.revocation import RevocationService

    invalid_from = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
    info = RevocationService(context()).revoke_seal(seal_id, reason=reason, invalid_from=invalid_from, principal=operator_principal())
    out(
        info,
        as_json,
        f"seal {info.seal_id} revoked ({info.reason}); not trusted from {info.invalid_from.isoformat()}\n"
        "licences time-stamped before that stay valid; to re-seal them with a new seal:\n"
        f"  certsvc seal add DEPARTMENT --name NAME   then   certsvc batch resign --from-seal {info.seal_id} --to-seal NEW",
    )


@seal_app.command("rotate")
@handle_errors
def seal_rotate(
    seal_id: RowIdArg,
    retire_at: Annotated[
        datetime | None, typer.Option("--retire-at", help="the old seal signs until then, UTC (default now)")
    ] = None,
    token_label: Annotated[str | None, typer.Option("--token-label", help="new key in this PKCS#11 token")] = None,
    key_label: Annotated[str | None, typer.Option("--key-label", help="the new key's label in the token")] = None,
    resign: Annotated[bool, typer.Option("--resign", help="also plan a re-sign of the old seal's licences")] = False,
    reason: Annotated[str, typer.Option(help="recorded in the audit log")] = "seal key rotation",
    as_json: JsonOption = False,
) -> None:
    """Rotate a seal's key: a new key and certificate, the old seal retired, each step audited."""
    from datetime import UTC

    from certsvc.services.seal_keys import SealKeyService

    token_key = _token_key("pkcs11" if token_label or key_label else "file", token_label, key_label)
    at = retire_at.replace(tzinfo=UTC) if retire_at is not None and retire_at.tzinfo is None else retire_at
    rotation = SealKeyService(context()).rotate(
        seal_id, principal=operator_principal(), retire_at=at, token_key=token_key, resign=resign, reason=reason
    )
    lines = [
        f"seal {rotation.new_seal_id} replaces seal {rotation.old_seal_id} "
        f"(certificate sha256 {rotation.new_certificate_sha256})",
        f"seal {rotation.old_seal_id} retired from {rotation.retired_from.isoformat()}",
    ]
    if rotation.resign_job_id is not None:
        lines.append(f"re-sign job {rotation.resign_job_id} planned: run it with certsvc batch resume {rotation.resign_job_id}")
    out(rotation, as_json, "\n".join(lines))


@seal_app.command("usage")
@handle_errors
def seal_usage(seal_id: RowIdArg, as_json: JsonOption = False) -> None:
    """Every licence version this seal's key sealed, from the audit log."""
    from certsvc.services.seal_keys import SealKeyService

    uses = SealKeyService(context()).usage(seal_id, principal=operator_principal())
    out(
        uses,
        as_json,
        "\n".join(f"{u.at.isoformat()}  {u.action:20} {u.licence}  v{u.version}  {u.sha256}" for u in uses)
        or f"seal {seal_id} has sealed nothing",
    )


@seal_app.command("image")
@handle_errors
def seal_image(
    seal_id: RowIdArg,
    png: Annotated[Path, typer.Argument(help="PNG with a transparent background")],
    as_json: JsonOption = False,
) -> None:
    """Replace a seal's drawn image with an uploaded PNG (checked for format, size, transparency)."""
    try:
        data = png.read_bytes()
    except OSError as exc:
        raise BadRequestError(f"cannot read {png}: {exc.strerror}", code="unreadable_file") from exc
    seal = _seals().set_seal_image(seal_id, data, principal=operator_principal())
    out(seal, as_json, f"seal {seal.id} now uses {png.name}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadRequestError(f"cannot read {path}: {exc.strerror}", code="unreadable_file") from exc
