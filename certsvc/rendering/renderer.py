"""Template + licence content → the electronic PDF and the print PDF.

Two variants come out of one layout pass so they can never drift apart:

* the **electronic** copy leaves the seal box empty — crypto signs the file and puts the
  signature's visible appearance (the seal image) there; a seal drawn into the page content
  would be a picture anyone can copy, not a seal;
* the **print** copy carries the seal image in the same box and a small 打印件 note, because
  paper cannot carry a signature; its QR code lets a clerk check the paper against the registry.

Both are deterministic for the same input (reportlab ``invariant`` mode, creation date taken
from ``issued_on``, subset names numbered rather than random), so re-rendering reproduces the
archived bytes and tests can compare them.
"""

from __future__ import annotations

from certsvc.rendering import fonts
from certsvc.rendering.content import LicenceContent, RenderedLicence
from certsvc.rendering.drawing import cached_image, qr_matrix
from certsvc.rendering.layout import plan_layout
from certsvc.rendering.painter import PRINT_MARK_TEXT
from certsvc.rendering.pdf_variants import paint_pdfs
from certsvc.rendering.templates import LicenceTemplate

__all__ = ["PRINT_MARK_TEXT", "LicenceContent", "RenderedLicence", "layout_for", "render_licence"]


def layout_for(template: LicenceTemplate, content: LicenceContent) -> LicenceTemplate:
    """The layout a licence is drawn with: the template's bilingual one (``bilingual.json``)
    when the content carries the issuing department's Mongolian name, else the template."""
    if content.department_name_mn and template.bilingual is not None:
        return template.bilingual
    return template


def render_licence(
    template: LicenceTemplate, content: LicenceContent, *, seal_image_png: bytes
) -> RenderedLicence:
    """Render the electronic and print PDFs of one licence.

    Raises:
        ValidationFailedError: a value does not fit its box, or has a character without a glyph
            (listing every problem); nothing is ever drawn outside its box.
        RenderingError: the seal image or the verify URL cannot be used.
    """
    fonts.register_fonts()
    template = layout_for(template, content)
    plan = plan_layout(template, content)
    seal = cached_image(seal_image_png)
    matrix = qr_matrix(content.verify_url)
    pdfs = paint_pdfs(template, content, plan, seal_image=seal, qr_matrix=matrix)
    return RenderedLicence(electronic_pdf=pdfs.electronic, print_pdf=pdfs.printed, seal_box=plan.seal_box)
