"""`certsvc template render SLUG [REQUEST.json] --out FILE.pdf`: previews for template authors."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from certsvc.errors import BadRequestError
from certsvc_cli.errors import handle_errors

__all__ = ["app"]

app = typer.Typer(
    help="Licence templates (list them with `certsvc templates`).", no_args_is_help=True
)


class Variant(StrEnum):
    """The choices of ``--variant``; the service's PreviewVariant, kept here so --help loads nothing."""

    ELECTRONIC = "electronic"
    PRINT = "print"


@app.command("render")
@handle_errors
def render(
    slug: Annotated[str, typer.Argument(help="template slug, see `certsvc templates`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="write the PDF here")],
    request_file: Annotated[
        Path | None,
        typer.Argument(
            help="REQUEST.json in the API body shape; default: the template's sample.json"
        ),
    ] = None,
    variant: Annotated[
        Variant, typer.Option(help="electronic (seal box empty) or print (seal drawn)")
    ] = Variant.ELECTRONIC,
) -> None:
    """Render a template to an unsigned PDF (nothing is issued, stored or signed)."""
    from certsvc.config import load_settings
    from certsvc.services.templates import PreviewVariant, TemplatePreviewService

    request = None
    if request_file is not None:
        try:
            request = json.loads(request_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadRequestError(
                f"cannot read {request_file}: {exc}", code="unreadable_request"
            ) from exc
        if not isinstance(request, dict):
            raise BadRequestError(
                f"{request_file} must hold a JSON object", code="unreadable_request"
            )
    preview = TemplatePreviewService.from_settings(load_settings()).render(
        slug, request, variant=PreviewVariant(variant.value)
    )
    try:
        out.write_bytes(preview.pdf)
    except OSError as exc:
        raise BadRequestError(
            f"cannot write {out}: {exc.strerror}", code="unwritable_file"
        ) from exc
    typer.echo(f"rendered {preview.name} ({preview.variant.value}, unsigned) to {out}")
