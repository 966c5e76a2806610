"""Template previews: render a template with sample or given data, unsigned, for its authors.

``certsvc template render SLUG [REQUEST.json] --out FILE.pdf`` calls this. Nothing is stored,
allocated or signed: the identifier belongs to a placeholder issuing authority, so a preview can
never be mistaken by the registry for an issued licence (verification reports it as unsigned
and unknown).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from certsvc.config import Settings
from certsvc.domain.identifiers import (
    HolderIdType,
    LicenceIdentifier,
    uscc_check_char,
    validate_holder_id,
)
from certsvc.domain.licence import Issuer, LicenceRecord
from certsvc.errors import BadRequestError
from certsvc.rendering import TemplateRegistry, draw_round_seal
from certsvc.services.issuance_rules import resolve_valid_until
from certsvc.services.producer import render_record, verification_url
from certsvc.services.requests import parse_issue_request

__all__ = [
    "PREVIEW_AREA_CODE",
    "PREVIEW_DEPARTMENT_CODE",
    "PREVIEW_DEPARTMENT_NAME",
    "PreviewVariant",
    "TemplatePreview",
    "TemplatePreviewService",
]

# A placeholder authority: a well-formed USCC (the identifier format needs one) that no real
# department has (the 9-digit organisation part is all zeros).
PREVIEW_DEPARTMENT_NAME = "某某市行政审批局"
PREVIEW_DEPARTMENT_CODE = "11000000000000000" + uscc_check_char("11000000000000000")
PREVIEW_AREA_CODE = "000000"  # no GB/T 2260 division has this code


class PreviewVariant(StrEnum):
    ELECTRONIC = "electronic"  # what is issued (and later sealed): the seal box left empty
    PRINT = "print"  # the printed copy: seal image drawn, marked 打印件


@dataclass(frozen=True, slots=True)
class TemplatePreview:
    slug: str
    name: str
    variant: PreviewVariant
    identifier: str
    pdf: bytes


class TemplatePreviewService:
    def __init__(self, templates: TemplateRegistry, *, public_url: str) -> None:
        self.templates = templates
        self.public_url = public_url

    @classmethod
    def from_settings(cls, settings: Settings) -> TemplatePreviewService:
        """Load the templates only: a preview needs no database, keys or blob store.

        Raises:
            ConfigurationError: a template is broken (named with its file and every problem).
        """
        return cls(TemplateRegistry.load(settings.templates_dir), public_url=settings.public_url)

    def render(
        self,
        slug: str,
        request: Mapping[str, object] | None = None,
        *,
        variant: PreviewVariant = PreviewVariant.ELECTRONIC,
        department_name: str = PREVIEW_DEPARTMENT_NAME,
    ) -> TemplatePreview:
        """Render ``slug`` with ``request`` (the API body shape) or, if none, its ``sample.json``.

        The issue date is the request's ``valid_from``, not today, so the same request always
        gives the same bytes and an author can diff two renders.

        Raises:
            UnknownTemplateError: no template ``slug``.
            BadRequestError: the request names another template.
            ValidationFailedError, InvalidHolderIdError: the data does not satisfy the template
                (every problem listed), or a value does not fit its box.
        """
        template = self.templates.get(slug)
        data = dict(request) if request is not None else template.load_sample()
        data.setdefault("template", slug)
        if data["template"] != slug:
            raise BadRequestError(
                f"the request is for template {data['template']!r}, not {slug!r}",
                code="template_mismatch",
            )
        parsed = parse_issue_request(data)
        holder_type = HolderIdType(parsed.holder.id_type)
        holder_id = validate_holder_id(holder_type, parsed.holder.id)
        fields = template.validate_fields(parsed.fields)
        issued_on = parsed.valid_from
        identifier = str(
            LicenceIdentifier(
                template.type_code, PREVIEW_DEPARTMENT_CODE, f"{issued_on.year}000001", 1
            )
        )
        record = LicenceRecord(
            kind=template.kind,
            holder_name=parsed.holder.name,
            holder_id_type=holder_type,
            holder_id=holder_id,
            valid_from=parsed.valid_from,
            valid_until=resolve_valid_until(template, parsed.valid_from, parsed.valid_until),
            issuer=Issuer(
                name=department_name, code=PREVIEW_DEPARTMENT_CODE, area_code=PREVIEW_AREA_CODE
            ),
            fields=fields,
        )
        # The producer's render, without a key: the QR code carries the plain verification URL.
        rendered = render_record(
            template,
            record,
            identifier=identifier,
            issued_on=issued_on,
            qr_text=verification_url(self.public_url, identifier),
            seal_image_png=draw_round_seal(department_name=department_name),
        )
        pdf = rendered.print_pdf if variant is PreviewVariant.PRINT else rendered.electronic_pdf
        return TemplatePreview(
            slug=template.slug, name=template.name, variant=variant, identifier=identifier, pdf=pdf
        )
