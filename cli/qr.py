"""``certsvc verify-qr``, ``qr read`` and ``trust export|nssdb``: QR codes and trust, offline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from certsvc.errors import BadRequestError
from certsvc_cli.errors import handle_errors

if TYPE_CHECKING:
    from certsvc.services.context import ServiceContext
    from certsvc.services.qr import QrVerification

__all__ = ["qr_app", "trust_app", "verify_qr"]

trust_app = typer.Typer(
    help="Trust: the signed key list for offline QR checks, an NSS database for pdfsig.",
    no_args_is_help=True,
)
qr_app = typer.Typer(help="Licence QR codes.", no_args_is_help=True)


def _context(*, migrate: bool = True) -> ServiceContext:
    from certsvc.config import load_settings
    from certsvc.services.context import build_context

    return build_context(load_settings(), migrate=migrate)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise BadRequestError(
            f"cannot read {path}: {exc.strerror}", code="unreadable_file"
        ) from exc


@trust_app.command("export")
@handle_errors
def export(
    file: Annotated[Path, typer.Argument(help="where to write the signed key list (JSON)")],
) -> None:
    """Write the signed list of issuer keys, for `certsvc verify-qr --keys FILE` offline."""
    from certsvc.services.trust import TrustService

    ctx = _context()
    document = TrustService(ctx).signed_document()
    file.write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    typer.echo(
        f"wrote {len(document['keys'])} keys to {file} (next update {document['next_update']})"
    )


@trust_app.command("import-signer")
@handle_errors
def import_signer(
    key: Annotated[Path, typer.Option(help="the signing key (PKCS#8 PEM, encrypted or not)")],
    certificate: Annotated[
        Path, typer.Option(help="its certificate, then its issuer (a trust root), as PEM")
    ],
    key_passphrase_file: Annotated[
        Path | None, typer.Option(help="file holding the key's passphrase")
    ] = None,
) -> None:
    """Install the key that signs the trust list (production; `certsvc init` makes one in development)."""
    from certsvc.services.trust_signer import import_trust_signer

    ctx = _context()
    passphrase = _read(key_passphrase_file).strip() if key_passphrase_file is not None else None
    info = import_trust_signer(
        ctx, key_pem=_read(key), certificate_pem=_read(certificate), key_passphrase=passphrase
    )
    typer.echo(
        f"trust-list signer installed: {info.subject_common_name} (serial {info.serial_hex})"
    )


@trust_app.command("token-signer")
@handle_errors
def token_signer(
    token_label: Annotated[str, typer.Option("--token-label", help="the PKCS#11 token's label")],
    key_label: Annotated[str, typer.Option("--key-label", help="the key's label in the token")],
    certificate: Annotated[
        Path | None,
        typer.Option(
            help="the token key's certificate, then a trust root (PEM); without it (development) "
            "the key is generated in the token and certified by the development root"
        ),
    ] = None,
    pin_file: Annotated[
        Path | None, typer.Option("--pin-file", help="file with the user PIN")
    ] = None,
) -> None:
    """Sign the trust list with a key inside a PKCS#11 token from now on."""
    overrides: dict[str, object] = (
        {"pkcs11_pin_file": pin_file, "pkcs11_pin": None} if pin_file else {}
    )
    from certsvc.config import load_settings
    from certsvc.services.context import build_context
    from certsvc.services.trust_signer import use_token_trust_signer

    ctx = build_context(load_settings(**overrides))
    pem = _read(certificate) if certificate is not None else None
    info = use_token_trust_signer(
        ctx, token_label=token_label, key_label=key_label, certificate_pem=pem
    )
    typer.echo(
        f"trust-list signer in token {token_label!r}: {info.subject_common_name} (serial {info.serial_hex})"
    )


@handle_errors
def verify_qr(
    text: Annotated[str, typer.Argument(help="the scanned text of the QR code")],
    keys: Annotated[
        Path | None,
        typer.Option(help="trust list from `certsvc trust export` (else this deployment's)"),
    ] = None,
    anchor: Annotated[
        list[Path] | None,
        typer.Option(help="root certificate (DER) that must have issued the list's signer"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Verify a QR payload offline (the text `certsvc qr read FILE` prints)."""
    from certsvc.clock import SystemClock
    from certsvc.services.qr import verify_qr_offline
    from certsvc.services.trust import TrustService, parse_trust_list

    if keys is not None:
        try:
            document: Any = json.loads(_read(keys))
        except ValueError as exc:
            raise BadRequestError(f"{keys} is not JSON", code="invalid_trust_list") from exc
        anchors = [_read(p) for p in anchor or []]
        if not anchors:
            # No anchor given: the roots of the local deployment, when there is one.
            anchors = _context(migrate=False).trust_roots()
        if not anchors:
            raise BadRequestError("no trust anchor: pass --anchor ROOT.der", code="no_trust_anchor")
        trust = parse_trust_list(document, anchors_der=anchors)
    else:
        trust = TrustService(_context()).current()
    now = SystemClock().now()
    result = verify_qr_offline(text, trust, today=now.date(), checked_at=now)
    _print(result, as_json=as_json)
    sys.exit(0 if result.report.bottom_line else 1)


@trust_app.command("nssdb")
@handle_errors
def nssdb(
    directory: Annotated[
        Path, typer.Argument(help="the NSS database directory (created if missing)")
    ],
) -> None:
    """Make an NSS database trusting this deployment's roots: `pdfsig -nssdir sql:DIR licence.pdf`."""
    from certsvc.services.nss_trust import write_nss_database

    for name in write_nss_database(_context(), directory):
        typer.echo(f"trusted: {name}")
    typer.echo(f"pdfsig -nssdir sql:{directory} licence.pdf")


@qr_app.command("read")
@handle_errors
def read(
    file: Annotated[
        Path, typer.Argument(help="the licence PDF, or a PNG/JPEG photo of its QR code")
    ],
) -> None:
    """Print the text of the licence's QR code, as a scanner reads it (for `certsvc verify-qr`)."""
    from certsvc.config import load_settings
    from certsvc.errors import InvalidDocumentError
    from certsvc.services.qr_reader import read_licence_qr

    try:
        text = read_licence_qr(_read(file), max_bytes=load_settings().max_upload_bytes)
    except InvalidDocumentError as exc:
        if exc.code != "no_qr_code":
            raise
        typer.echo(f"{file}: {exc.message}", err=True)
        sys.exit(1)
    typer.echo(text)


def _print(result: QrVerification, *, as_json: bool) -> None:
    report, claims = result.report, result.claims
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "verdict": report.verdict.value,
                    "reasons": [
                        {"code": r.code, "message_zh": r.message_zh, "message_en": r.message_en}
                        for r in report.reasons
                    ],
                    "qr": None
                    if claims is None
                    else {
                        "identifier": claims.identifier,
                        "licence_name": result.licence_name,
                        "kid": result.kid,
                        "issued_on": claims.issued_on.isoformat(),
                        "valid_from": claims.valid_from.isoformat(),
                        "valid_until": claims.valid_until.isoformat(),
                        "holder_name_masked": claims.holder_name_masked,
                        "holder_id_masked": claims.holder_id_masked,
                    },
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    typer.echo(f"verdict: {report.verdict.value}")
    for r in report.reasons:
        typer.echo(f"  [{r.code}] {r.message_zh} / {r.message_en}")
    if claims is not None:
        typer.echo(f"  licence {claims.identifier} {result.licence_name or ''}")
        typer.echo(f"  holder {claims.holder_name_masked} ({claims.holder_id_masked})")
        typer.echo(
            f"  valid {claims.valid_from} .. {claims.valid_until}; issued {claims.issued_on}; key {result.kid}"
        )
