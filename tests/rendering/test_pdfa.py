"""PDF/A-2b: every rendered variant, and the electronic one after sealing, pass tests/pdfa.py.

No independent validator can be installed here (see tests/pdfa.py), so the checker is itself
tested: files that break each family of clauses must be reported.
"""

from __future__ import annotations

import io
import re
import uuid
from datetime import UTC, datetime

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from reportlab.pdfgen.canvas import Canvas

from certsvc.crypto.api import KeyAlgorithm, PdfSealer, validate_pdf
from certsvc.rendering.metadata import SRGB_PROFILE_PATH, srgb_profile
from certsvc.rendering.renderer import LicenceContent, RenderedLicence
from tests.pdfa import NS, pdfa_2b_problems, xmp_values
from tests.pki import available_algorithms, pki, seal_png

pytestmark = pytest.mark.db_independent

Rendered = dict[str, tuple[LicenceContent, RenderedLicence]]


def _key(prefix: str, name: str) -> str:
    return "{" + NS[prefix] + "}" + name


def _xmp(pdf: bytes) -> dict[str, str]:
    reader = PdfFileReader(io.BytesIO(pdf))
    return xmp_values(reader.root["/Metadata"].get_object().data)


def _info(pdf: bytes) -> dict[str, str]:
    info = PdfFileReader(io.BytesIO(pdf)).trailer["/Info"].get_object()
    return {str(k): str(v) for k, v in info.items()}


def test_every_template_variant_is_pdfa_2b(rendered: Rendered) -> None:
    for slug, (_, licence) in rendered.items():
        assert pdfa_2b_problems(licence.electronic_pdf) == [], slug
        assert pdfa_2b_problems(licence.print_pdf) == [], slug


@pytest.mark.parametrize("algorithm", available_algorithms(), ids=lambda a: a.value)
def test_sealed_electronic_copy_stays_pdfa_and_its_signature_valid(
    rendered: Rendered, algorithm: KeyAlgorithm
) -> None:
    _, licence = rendered["administrative-licensing-decision"]  # two pages, seal on the last
    p = pki(algorithm)
    sealer = PdfSealer(
        key=p.signing_key, seal_image_png=seal_png()
    )
    signed_at = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)
    sealed = sealer.seal(
        licence.electronic_pdf,
        box=licence.seal_box,
        department_name="无锡市市场监督管理局",
        signed_at=signed_at,
        reason="test",
    )
    assert pdfa_2b_problems(sealed) == []
    # The seal's revision leaves the metadata alone: the XMP packet and the Info dictionary
    # are the render's, so they still agree and the PDF/A identification is unchanged.
    values = _xmp(sealed)
    assert values[_key("pdfaid", "part")] == "2"
    assert values == _xmp(licence.electronic_pdf)
    assert _info(sealed) == _info(licence.electronic_pdf)
    appended = sealed[len(licence.electronic_pdf) :]
    assert b"/Type /Metadata" not in appended and b"/ModDate" not in appended
    result = validate_pdf(sealed, trust_roots_der=[p.root_der], validation_time=signed_at)
    (sig,) = result.signatures
    assert sig.is_intact and sig.is_trusted and sig.covers_whole_file


def test_xmp_identification_document_id_and_output_intent(rendered: Rendered) -> None:
    content, licence = rendered["food-business-licence"]
    values = _xmp(licence.electronic_pdf)
    assert values[_key("pdfaid", "part")] == "2"
    assert values[_key("pdfaid", "conformance")] == "B"
    reader = PdfFileReader(io.BytesIO(licence.electronic_pdf))
    first_id = reader.trailer["/ID"][0]
    assert values[_key("xmpMM", "DocumentID")] == f"uuid:{uuid.UUID(bytes=bytes(first_id))}"
    # the two variants are two documents; the same licence re-rendered is the same document
    print_id = PdfFileReader(io.BytesIO(licence.print_pdf)).trailer["/ID"][0]
    assert bytes(print_id) != bytes(first_id)
    (intent,) = reader.root["/OutputIntents"]
    profile = intent.get_object()["/DestOutputProfile"].get_object().data
    assert profile == srgb_profile() == SRGB_PROFILE_PATH.read_bytes()
    assert values[_key("xmp", "CreateDate")] == f"{content.issued_on.isoformat()}T00:00:00+08:00"


def test_every_stream_has_an_eol_before_endstream(rendered: Rendered) -> None:
    # reportlab alone writes "…data" + "endstream"; rendering installs the fix (ISO 19005-2 §6.1.7.1)
    _, licence = rendered["drug-business-licence"]
    pdf = licence.electronic_pdf
    assert pdf.count(b"endstream") == len(re.findall(rb"\nendstream", pdf)) > 0


# --- the checker finds what it is meant to find -----------------------------------------------
def _plain_reportlab_pdf() -> bytes:
    out = io.BytesIO()
    canvas = Canvas(out, invariant=1)
    canvas.setFillColorCMYK(0, 1, 1, 0)
    canvas.drawString(72, 720, "not embedded Helvetica")
    canvas.showPage()
    canvas.save()
    return out.getvalue()


def test_checker_reports_a_plain_pdf() -> None:
    problems = "\n".join(pdfa_2b_problems(_plain_reportlab_pdf()))
    assert "6.2.11.4.1" in problems  # Helvetica is not embedded
    assert "6.2.3" in problems  # no output intent
    assert "6.2.4.3" in problems  # DeviceCMYK colour
    assert "6.6.2.1 catalog has no /Metadata" in problems


def test_checker_reports_broken_metadata(rendered: Rendered) -> None:
    _, licence = rendered["food-business-licence"]
    pdf = licence.electronic_pdf
    # same length, so offsets stay valid: drop the identification and an extension declaration
    broken = pdf.replace(b"<pdfaid:part>2</pdfaid:part>", b"<pdfaid:part>1</pdfaid:part>")
    broken = broken.replace(
        b"<pdfaProperty:name>holder_name</pdfaProperty:name>",
        b"<pdfaProperty:name>holder_nemo</pdfaProperty:name>",
    )
    problems = "\n".join(pdfa_2b_problems(broken))
    assert "6.6.4" in problems
    assert "6.6.2.3.1 XMP property holder_name" in problems


def test_checker_reports_a_stream_without_eol(rendered: Rendered) -> None:
    _, licence = rendered["food-business-licence"]
    pdf = licence.electronic_pdf
    index = pdf.index(b"\nendstream")
    broken = pdf[:index] + b" endstream" + pdf[index + len(b"\nendstream") :]
    assert any(p.startswith("6.1.7.1") for p in pdfa_2b_problems(broken))
