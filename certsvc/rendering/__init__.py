"""Rendering: licence template + content → electronic PDF and print PDF (reportlab only).

The only package that imports reportlab, segno and PIL. It takes and returns plain values and
never imports crypto, storage, services or api. Public surface:

* ``TemplateRegistry`` / ``LicenceTemplate`` — templates as data, checked at start-up;
* ``render_licence`` with ``LicenceContent`` → ``RenderedLicence``;
* ``draw_round_seal`` / ``draw_oval_seal`` — seal images (PNG);
* ``validate_seal_png`` → ``SealImageInfo`` — checks an uploaded seal image;
* ``read_licence_metadata`` — GB/T 36903 metadata back out of a PDF.
"""

from __future__ import annotations

from certsvc.rendering.metadata import read_licence_metadata
from certsvc.rendering.renderer import LicenceContent, RenderedLicence, render_licence
from certsvc.rendering.seals import (
    SealImageInfo,
    draw_oval_seal,
    draw_round_seal,
    validate_seal_png,
)
from certsvc.rendering.templates import FieldSpec, FieldType, LicenceTemplate, TemplateRegistry

__all__ = [
    "FieldSpec",
    "FieldType",
    "LicenceContent",
    "LicenceTemplate",
    "RenderedLicence",
    "SealImageInfo",
    "TemplateRegistry",
    "draw_oval_seal",
    "draw_round_seal",
    "read_licence_metadata",
    "render_licence",
    "validate_seal_png",
]
