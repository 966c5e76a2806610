"""OFD beside PDF for the same licence: render + seal, and verification.

An embedded deployment is set up in a temporary home (``certsvc init``) and its SM2 department
seals both files with the same key, as issuance does:

* PDF: ``render_licence`` (the electronic and the print PDF, as every version is produced), the
  PAdES seal, and the GB/T 38540 ``SES_Signature`` over the signed byte ranges;
* OFD: ``render_ofd`` (from the same plan) and ``seal_ofd`` (References, SignedValue.dat);
* verification: ``VerificationService.verify_pdf`` on the sealed PDF and ``verify_file`` on the
  sealed OFD (same trust roots, same registry look-ups).

    .venv/bin/python bench/ofd.py [N]
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._machine import machine, median_ms, timed
from certsvc.config import load_settings
from certsvc.crypto import api as crypto
from certsvc.domain.identifiers import HolderIdType, LicenceIdentifier
from certsvc.domain.licence import Issuer, LicenceRecord
from certsvc.rendering.ofd import render_ofd
from certsvc.rendering.renderer import LicenceContent, render_licence
from certsvc.services.context import build_context
from certsvc.services.embedded_init import init_embedded
from certsvc.services.producer import SealSnapshot
from certsvc.services.provisioning import department_by_code
from certsvc.services.verification import VerificationService
from certsvc.storage.repositories import SealRepository

SM2_DEPARTMENT = "11152502011513952P"  # the SM2 department `certsvc init` makes


def main(n: int = 20) -> None:
    home = Path(tempfile.mkdtemp(prefix="certsvc-bench-ofd-"))
    ctx = build_context(load_settings(home=home, public_url="https://certsvc.example.gov.cn"))
    init_embedded(ctx)
    with ctx.database.transaction() as session:
        department = department_by_code(session, SM2_DEPARTMENT)
        row = SealRepository(session).active_for(department.id, ctx.clock.now())
        assert row is not None
        seal = SealSnapshot.of(row)
        name, code = department.name, department.code
    assert seal.ses_seal_der is not None
    loaded = ctx.loaded_seal(seal)
    image = ctx.blobs.get(seal.image_sha256)
    verifier = VerificationService(ctx)
    now = ctx.clock.now()
    print(f"machine: {machine()}")
    print(f"N = {n} per figure (medians), SM2 seal of {name}\n")
    print("| template | PDF render + seal | OFD render + seal | ratio | PDF verify | OFD verify | ratio |")
    print("|---|---|---|---|---|---|---|")
    for template in ctx.templates.all():
        sample = template.load_sample()
        identifier = str(LicenceIdentifier(template.type_code, code, "20260315000123", 1))
        record = LicenceRecord(
            kind=template.kind, holder_name=sample["holder"]["name"], holder_id_type=HolderIdType(sample["holder"]["id_type"]),
            holder_id=sample["holder"]["id"], fields=template.validate_fields(sample["fields"]),
            valid_from=date.fromisoformat(sample["valid_from"]), valid_until=date.fromisoformat(sample["valid_until"]),
            issuer=Issuer(name=name, code=code, area_code="152500"),
        )
        content = LicenceContent(record=record, identifier=identifier, issued_on=now.date(), verify_url="https://certsvc.example.gov.cn/v/bench")
        content = replace(content, verify_url=f"https://certsvc.example.gov.cn/v/{content.identifier}")
        made: dict[str, bytes] = {}

        def pdf_once() -> None:
            rendered = render_licence(template, content, seal_image_png=image)
            signed = loaded.sealer.seal(
                rendered.electronic_pdf, box=rendered.seal_box, department_name=name, signed_at=now, reason="bench"
            )
            assert seal.ses_seal_der is not None
            crypto.sign_pdf_ranges(signed, seal_der=seal.ses_seal_der, key=loaded.key, signed_at=now)
            made["pdf"] = signed

        def ofd_once() -> None:
            rendered = render_ofd(template, content)
            assert seal.ses_seal_der is not None
            made["ofd"] = crypto.seal_ofd(
                rendered.data,
                seal_der=seal.ses_seal_der,
                key=loaded.key,
                certificate_der=seal.certificate_der,
                signed_at=now,
                page_index=rendered.seal_page,
                boundary_mm=rendered.seal_box,
            )

        pdf_once()  # warm caches (fonts, seal appearance) before timing
        ofd_once()
        pdf_ms, ofd_ms = [], []
        for _ in range(n):  # alternate, so load changes hit both sides alike
            pdf_ms.append(timed(pdf_once))
            ofd_ms.append(timed(ofd_once))
        assert verifier.verify_file(made["ofd"]).signatures[0].is_intact
        pdf_v, ofd_v = [], []
        for _ in range(n):
            pdf_v.append(timed(lambda: verifier.verify_pdf(made["pdf"])))
            ofd_v.append(timed(lambda: verifier.verify_file(made["ofd"])))
        a, b, c, d = median_ms(pdf_ms), median_ms(ofd_ms), median_ms(pdf_v), median_ms(ofd_v)
        print(f"| {template.slug} | {a:.1f} ms | {b:.1f} ms | **{b / a:.2f}** | {c:.1f} ms | {d:.1f} ms | **{d / c:.2f}** |")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
