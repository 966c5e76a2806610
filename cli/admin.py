"""`certsvc department|seal|client|webhook ...`: administration by the local operator."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from certsvc.domain.ids import ROW_ID_MAX
from certsvc.errors import BadRequestError
from certsvc_cli.errors import handle_errors
from certsvc_cli.operator import operator_principal
from certsvc_cli.tables import print_table

if TYPE_CHECKING:
    from certsvc.domain.paging import Page, PageRequest
    from certsvc.services.admin import AdminService
    from certsvc.services.context import ServiceContext
    from certsvc.services.provisioning import TokenKeyName
    from certsvc.services.webhook_admin import WebhookAdminService

__all__ = ["client_app", "department_app", "seal_app", "webhook_app"]

department_app = typer.Typer(help="Departments (发证机关).", no_args_is_help=True)
seal_app = typer.Typer(help="Seals of departments.", no_args_is_help=True)
client_app = typer.Typer(help="API clients and their keys.", no_args_is_help=True)
webhook_app = typer.Typer(help="Webhooks for licence state changes.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output")]
NameMnOption = Annotated[
    str | None,
    typer.Option("--name-mn", help="the name in traditional Mongolian script (U+1800–U+18AF)"),
]
BilingualOption = Annotated[
    bool | None,
    typer.Option(
        "--bilingual/--chinese-only",
        help="seals and licences in Mongolian and Chinese (default: area 15xxxx)",
    ),
]
# Ids beyond every supported database's range are refused as usage errors, not driver errors.
RowIdArg = Annotated[int, typer.Argument(min=1, max=ROW_ID_MAX)]
T = TypeVar("T")


def _context(**overrides: object) -> ServiceContext:
    from certsvc.config import load_settings
    from certsvc.services.context import build_context

    return build_context(load_settings(**overrides))


def _admin() -> AdminService:
    from certsvc.services.admin import AdminService

    return AdminService(_context())


def _out(value: Any, as_json: bool, line: str) -> None:
    if as_json:
        typer.echo(json.dumps(_plain(value), ensure_ascii=False, indent=2, default=str))
    else:
        typer.echo(line)


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)
    return value


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
    d = _admin().add_department(
        code=code,
        name=name,
        area_code=area_code,
        name_mn=name_mn,
        is_bilingual=bilingual,
        principal=operator_principal(),
    )
    _out(
        d, as_json, f"added department {d.code} {d.name}" + (f" / {d.name_mn}" if d.name_mn else "")
    )
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
    d = _admin().update_department(
        code, name_mn=name_mn, is_bilingual=bilingual, principal=operator_principal()
    )
    _out(
        d,
        as_json,
        f"department {d.code}: bilingual={'yes' if d.is_bilingual else 'no'} name_mn={d.name_mn or '-'}",
    )
    _warn(d.warnings)


def _warn(warnings: tuple[str, ...]) -> None:
    for warning in warnings:
        typer.echo(f"warning: {warning}", err=True)


@department_app.command("list")
@handle_errors
def department_list(as_json: JsonOption = False) -> None:
    """List departments."""
    rows = _admin().list_departments(principal=operator_principal())
    if as_json:
        _out(rows, as_json, "")
        return
    print_table(
        ("code", "status", "area", "名称 name", "seals"),
        [(d.code, d.status, d.area_code, d.name, len(d.seals)) for d in rows],
    )


@department_app.command("show")
@handle_errors
def department_show(code: str, as_json: JsonOption = False) -> None:
    """Show a department and its seals."""
    d = _admin().show_department(code, principal=operator_principal())
    lines = [f"{d.code} {d.name} area {d.area_code} status {d.status}"]
    lines += [
        f"  Mongolian name: {d.name_mn or '-'}  bilingual: {'yes' if d.is_bilingual else 'no'}"
    ]
    lines += [f"  licence types: {', '.join(d.licence_types) or '(none)'}"]
    lines += [
        f"  seal {s.id}: {s.name} ({s.purpose}) {s.algorithm} {s.status} until {s.valid_until.date()}"
        + ("  [default]" if s.is_default else "")
        for s in d.seals
    ]
    _out(d, as_json, "\n".join(lines))


@department_app.command("types")
@handle_errors
def department_types(
    code: Annotated[str, typer.Argument(help="department code")],
    add: Annotated[
        list[str] | None, typer.Option("--add", help="allow this template (repeatable)")
    ] = None,
    remove: Annotated[
        list[str] | None, typer.Option("--remove", help="withdraw this template (repeatable)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show, allow or withdraw the licence types (templates) a department may issue."""
    from certsvc.services.licence_types import LicenceTypeService

    service = LicenceTypeService(_context())
    if add or remove:
        types = service.change(
            code, add=add or [], remove=remove or [], principal=operator_principal()
        )
    else:
        types = service.types(code, principal=operator_principal())
    _out(
        types,
        as_json,
        "\n".join(types.templates)
        or f"department {types.department_code} may issue no licence type",
    )


@seal_app.command("add")
@handle_errors
def seal_add(
    department: Annotated[str, typer.Argument(help="department code")],
    name: Annotated[str, typer.Option(help="e.g. 行政审批专用章")],
    purpose: Annotated[
        str | None,
        typer.Option(help="what it seals for (公章, 行政许可专用章 ...); defaults to the name"),
    ] = None,
    algorithm: Annotated[str, typer.Option(help="rsa-3072 | ecdsa-p256 | sm2")] = "ecdsa-p256",
    validity_days: Annotated[int, typer.Option()] = 1825,
    name_mn: Annotated[
        str | None, typer.Option("--name-mn", help="the seal's name in Mongolian script")
    ] = None,
    ring_layout: Annotated[
        str,
        typer.Option(
            "--ring-layout", help="rings: Mongolian outer ring | halves: Mongolian upper half"
        ),
    ] = "rings",
    key: Annotated[Path | None, typer.Option(help="import: private key PEM")] = None,
    certificate: Annotated[
        Path | None, typer.Option(help="import: certificate PEM (then its chain)")
    ] = None,
    key_passphrase_env: Annotated[
        str | None,
        typer.Option(help="import: name of the environment variable holding the key's passphrase"),
    ] = None,
    key_store: Annotated[
        str,
        typer.Option(
            "--key-store", help="file: an encrypted key file | pkcs11: generated in an HSM token"
        ),
    ] = "file",
    token_label: Annotated[
        str | None, typer.Option("--token-label", help="pkcs11: the token's label")
    ] = None,
    key_label: Annotated[
        str | None,
        typer.Option("--key-label", help="pkcs11: the new key's label in the token (unique there)"),
    ] = None,
    pin_file: Annotated[
        Path | None,
        typer.Option(
            "--pin-file", help="pkcs11: file with the user PIN (else CERTSVC_PKCS11_PIN[_FILE])"
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make a seal from the development CA (key file or HSM token), or import --key and --certificate."""
    token_key = _token_key(key_store, token_label, key_label)
    overrides: dict[str, object] = (
        {"pkcs11_pin_file": pin_file, "pkcs11_pin": None} if pin_file else {}
    )
    from certsvc.services.admin import AdminService

    admin = AdminService(_context(**overrides))
    if key or certificate:
        if token_key is not None:
            raise BadRequestError(
                "an imported key is a key file: drop --key-store pkcs11", code="import_incomplete"
            )
        if not (key and certificate):
            raise BadRequestError(
                "give both --key and --certificate to import a seal", code="import_incomplete"
            )
        import os

        passphrase = os.environ.get(key_passphrase_env, "").encode() if key_passphrase_env else None
        seal = admin.import_seal(
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
        seal = admin.add_seal(
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
    role = (
        "the department's default seal"
        if seal.is_default
        else "not the default: certsvc seal default to sign with it"
    )
    _out(
        seal,
        as_json,
        f"seal {seal.id}: {seal.name} ({seal.algorithm}) for {seal.department_code}; {role}",
    )


def _token_key(
    key_store: str, token_label: str | None, key_label: str | None
) -> TokenKeyName | None:
    from certsvc.services.provisioning import TokenKeyName

    if key_store == "file":
        if token_label or key_label:
            raise BadRequestError(
                "--token-label and --key-label need --key-store pkcs11", code="bad_key_store"
            )
        return None
    if key_store != "pkcs11":
        raise BadRequestError(
            f"unknown key store {key_store!r}: file or pkcs11", code="bad_key_store"
        )
    if not token_label or not key_label:
        raise BadRequestError(
            "--key-store pkcs11 needs --token-label and --key-label", code="bad_key_store"
        )
    return TokenKeyName(token_label=token_label, key_label=key_label)


@seal_app.command("list")
@handle_errors
def seal_list(department: str, as_json: JsonOption = False) -> None:
    """List a department's seals."""
    admin = _admin()
    rows = _every(
        lambda page: admin.list_seals(department, principal=operator_principal(), page=page)
    )
    if as_json:
        _out(rows, as_json, "")
        return
    print_table(
        ("id", "status", "algorithm", "名称 name", "用途 purpose", "valid until", "default"),
        [
            (
                s.id,
                s.status,
                s.algorithm,
                s.name,
                s.purpose,
                s.valid_until.date(),
                "default" if s.is_default else "",
            )
            for s in rows
        ],
    )


@seal_app.command("default")
@handle_errors
def seal_default(seal_id: int, as_json: JsonOption = False) -> None:
    """Make a seal its department's default: it signs every template that names no seal purpose."""
    seal = _admin().set_default_seal(seal_id, principal=operator_principal())
    _out(
        seal,
        as_json,
        f"seal {seal.id} ({seal.name}) is now the default seal of {seal.department_code}",
    )


@seal_app.command("retire")
@handle_errors
def seal_retire(seal_id: RowIdArg, as_json: JsonOption = False) -> None:
    """Retire a seal: no new versions are sealed with it; files it sealed stay valid."""
    seal = _admin().retire_seal(seal_id, principal=operator_principal())
    _out(seal, as_json, f"seal {seal.id} retired")


@seal_app.command("revoke")
@handle_errors
def seal_revoke(
    seal_id: int,
    reason: Annotated[
        str,
        typer.Option(
            help="key-compromise, superseded, affiliation-changed, cessation-of-operation, unspecified"
        ),
    ],
    at: Annotated[
        datetime | None, typer.Option(help="from when the key is not trusted, UTC (default now)")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a seal's certificate: licences time-stamped before --at stay valid, later ones do not."""
    from datetime import UTC

    from certsvc.services.revocation import RevocationService

    invalid_from = at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at
    info = RevocationService(_context()).revoke_seal(
        seal_id, reason=reason, invalid_from=invalid_from, principal=operator_principal()
    )
    _out(
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
        datetime | None,
        typer.Option("--retire-at", help="the old seal signs until then, UTC (default now)"),
    ] = None,
    token_label: Annotated[
        str | None, typer.Option("--token-label", help="new key in this PKCS#11 token")
    ] = None,
    key_label: Annotated[
        str | None, typer.Option("--key-label", help="the new key's label in the token")
    ] = None,
    resign: Annotated[
        bool, typer.Option("--resign", help="also plan a re-sign of the old seal's licences")
    ] = False,
    reason: Annotated[str, typer.Option(help="recorded in the audit log")] = "seal key rotation",
    as_json: JsonOption = False,
) -> None:
    """Rotate a seal's key: a new key and certificate, the old seal retired, each step audited."""
    from datetime import UTC

    from certsvc.services.seal_keys import SealKeyService

    token_key = _token_key("pkcs11" if token_label or key_label else "file", token_label, key_label)
    at = (
        retire_at.replace(tzinfo=UTC)
        if retire_at is not None and retire_at.tzinfo is None
        else retire_at
    )
    rotation = SealKeyService(_context()).rotate(
        seal_id,
        principal=operator_principal(),
        retire_at=at,
        token_key=token_key,
        resign=resign,
        reason=reason,
    )
    lines = [
        f"seal {rotation.new_seal_id} replaces seal {rotation.old_seal_id} "
        f"(certificate sha256 {rotation.new_certificate_sha256})",
        f"seal {rotation.old_seal_id} retired from {rotation.retired_from.isoformat()}",
    ]
    if rotation.resign_job_id is not None:
        lines.append(
            f"re-sign job {rotation.resign_job_id} planned: run it with certsvc batch resume {rotation.resign_job_id}"
        )
    _out(rotation, as_json, "\n".join(lines))


@seal_app.command("usage")
@handle_errors
def seal_usage(seal_id: RowIdArg, as_json: JsonOption = False) -> None:
    """Every licence version this seal's key sealed, from the audit log."""
    from certsvc.services.seal_keys import SealKeyService

    uses = SealKeyService(_context()).usage(seal_id, principal=operator_principal())
    _out(
        uses,
        as_json,
        "\n".join(
            f"{u.at.isoformat()}  {u.action:20} {u.licence}  v{u.version}  {u.sha256}" for u in uses
        )
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
    seal = _admin().set_seal_image(seal_id, data, principal=operator_principal())
    _out(seal, as_json, f"seal {seal.id} now uses {png.name}")


@client_app.command("add")
@handle_errors
def client_add(
    name: str,
    role: Annotated[str, typer.Option(help="issuer | operator | sharing")],
    department: Annotated[
        str | None, typer.Option(help="department code (issuer, sharing)")
    ] = None,
    expires: Annotated[datetime | None, typer.Option(help="expiry, ISO 8601 UTC")] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API client. The key is printed once and cannot be shown again."""
    from datetime import UTC

    expires_at = expires.replace(tzinfo=UTC) if expires and expires.tzinfo is None else expires
    key = _admin().add_client(
        name=name,
        role=role,
        department_code=department,
        expires_at=expires_at,
        principal=operator_principal(),
    )
    _out(
        {"id": key.client_id, "api_key": key.api_key},
        as_json,
        f"client {key.client_id}\napi key (shown once): {key.api_key}",
    )


@client_app.command("list")
@handle_errors
def client_list(
    department: Annotated[str | None, typer.Option()] = None, as_json: JsonOption = False
) -> None:
    """List API clients (never their keys)."""
    admin = _admin()
    rows = _every(
        lambda page: admin.list_clients(
            principal=operator_principal(), page=page, department_code=department
        )
    )
    if as_json:
        _out(rows, as_json, "")
        return
    print_table(
        ("id", "role", "department", "name", "state", "expires"),
        [
            (
                c.id,
                c.role,
                c.department_code,
                c.name,
                "REVOKED" if c.revoked_at else "active",
                c.expires_at,
            )
            for c in rows
        ],
    )


@client_app.command("revoke")
@handle_errors
def client_revoke(client_id: RowIdArg, as_json: JsonOption = False) -> None:
    """Revoke a client's key at once."""
    c = _admin().revoke_client(client_id, principal=operator_principal())
    _out(c, as_json, f"client {c.id} revoked")


@webhook_app.command("add")
@handle_errors
def webhook_add(department: str, url: str, as_json: JsonOption = False) -> None:
    """Register a webhook URL for a department; prints the HMAC secret once."""
    hook = _admin().add_webhook(department, url=url, principal=operator_principal())
    _out(hook, as_json, f"webhook {hook.id} -> {hook.url}\nsecret (shown once): {hook.secret}")


@webhook_app.command("list")
@handle_errors
def webhook_list(department: str, as_json: JsonOption = False) -> None:
    """List a department's webhooks."""
    hooks = _webhooks()
    rows = _every(lambda page: hooks.list(department, principal=operator_principal(), page=page))
    if as_json:
        _out(rows, as_json, "")
        return
    print_table(
        ("id", "state", "url"), [(w.id, "active" if w.is_active else "off", w.url) for w in rows]
    )


def _webhooks() -> WebhookAdminService:
    from certsvc.services.webhook_admin import WebhookAdminService

    return WebhookAdminService(_context())


def _every(fetch: Callable[[PageRequest], Page[T]]) -> list[T]:
    """Every page of a list (the CLI shows all of it)."""
    from certsvc.domain.paging import every_item

    return list(every_item(fetch))


@webhook_app.command("disable")
@handle_errors
def webhook_disable(webhook_id: RowIdArg, as_json: JsonOption = False) -> None:
    """Stop sending to a webhook (events pending for it wait until it is enabled)."""
    hook = _webhooks().set_active(webhook_id, is_active=False, principal=operator_principal())
    _out(hook, as_json, f"webhook {hook.id} disabled")


@webhook_app.command("enable")
@handle_errors
def webhook_enable(webhook_id: RowIdArg, as_json: JsonOption = False) -> None:
    """Send to a disabled webhook again."""
    hook = _webhooks().set_active(webhook_id, is_active=True, principal=operator_principal())
    _out(hook, as_json, f"webhook {hook.id} enabled")


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
    _out(
        rotated,
        as_json,
        f"webhook {rotated.id} -> {rotated.url}\nnew secret (shown once): {rotated.secret}",
    )


@webhook_app.command("deliveries")
@handle_errors
def webhook_deliveries(
    webhook_id: RowIdArg,
    limit: Annotated[int, typer.Option(min=1, max=500, help="newest N events")] = 20,
    as_json: JsonOption = False,
) -> None:
    """The delivery log: newest events first, each with the HTTP status of every attempt."""
    from certsvc.domain.paging import PageRequest

    rows = list(
        _webhooks()
        .deliveries(webhook_id, principal=operator_principal(), page=PageRequest(limit=limit))
        .items
    )
    _out(
        rows,
        as_json,
        "\n".join(
            f"{d.id}  {d.status:9}  {d.event_type:22}  attempts: "
            + (" ".join(str(a.http_status or a.error) for a in d.attempt_log) or "-")
            for d in rows
        ),
    )


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadRequestError(
            f"cannot read {path}: {exc.strerror}", code="unreadable_file"
        ) from exc
