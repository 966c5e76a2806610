"""The licence producer, and what every flow that makes a version must agree on.

Issuance, amendment, batch import and batch re-signing all make versions through
``LicenceProducer``; these tests read the files each flow stored and check that their GB/T 36903
metadata and their signed QR payloads say what the registry says.
"""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from certsvc.crypto import api as crypto
from certsvc.domain.identifiers import HolderIdType
from certsvc.domain.licence import Issuer, LicenceRecord
from certsvc.rendering import renderer
from certsvc.rendering.metadata import read_licence_metadata
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext
from certsvc.services.issuance import IssuanceService
from certsvc.services.licences import licence_record_of
from certsvc.services.lifecycle import LifecycleService
from certsvc.services.lifecycle_versions import parse_amend_request
from certsvc.services.principals import Principal, Role
from certsvc.services.producer import (
    FORMATS,
    LicenceProducer,
    ProducedFile,
    Production,
    SealSnapshot,
    VersionSpec,
)
from certsvc.services.qr import QrService
from certsvc.services.requests import parse_issue_request
from certsvc.storage.orm import Certificate, CertificateVersion, Seal
from tests.conftest import TEMPLATES
from tests.jobs.batch_helpers import OPERATOR, TestDepartment, new_department, new_seal
from tests.services.test_qr import scan_pdf

FOOD = "food-business-licence"
AREA_CODE = "320200"  # new_department's 行政区划代码 (无锡市)


class _MetadataSheet:
    """A third output format, as a test stands it in: the version's metadata as JSON."""

    name = "metadata-sheet"

    def produce(self, work: Production) -> ProducedFile:
        record = work.spec.record
        sheet = {"qr": work.qr_text(), **record.gbt36903_metadata(work.spec.identifier, issued_on=work.spec.issued_on)}
        return ProducedFile(format=self.name, sha256=work.store(json.dumps(sheet, ensure_ascii=False).encode()))


def _seal(ctx: ServiceContext, seal_id: int) -> SealSnapshot:
    with ctx.database.read() as session:
        seal = session.get(Seal, seal_id)
        assert seal is not None
        return SealSnapshot.of(seal)


def _spec(ctx: ServiceContext, department: TestDepartment, serial: int) -> VersionSpec:
    template = ctx.templates.get(FOOD)
    sample = template.load_sample()
    request = parse_issue_request(sample)
    record = LicenceRecord(
        kind=template.kind,
        holder_name=request.holder.name,
        holder_id_type=HolderIdType(request.holder.id_type),
        holder_id=request.holder.id,
        valid_from=request.valid_from,
        valid_until=request.valid_until,
        issuer=Issuer(name="无锡市批量测试局", code=department.code, area_code=AREA_CODE),
        fields=template.validate_fields(request.fields),
    )
    now = ctx.clock.now()
    return VersionSpec(
        template=template,
        record=record,
        identifier=f"1.2.156.3005.2.{template.type_code}.{department.code}.2026{serial:06d}.001.0",
        issued_on=now.date(),
        seal=_seal(ctx, department.seal_id),
        signed_at=now,
        reason="test",
    )


def test_an_output_format_is_one_more_entry_and_the_page_is_rendered_once(
    embedded: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    renders: list[str] = []
    real_render = renderer.render_licence

    def counting_render(*args: object, **kwargs: object) -> renderer.RenderedLicence:
        renders.append("render")
        return real_render(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("certsvc.services.producer.render_licence", counting_render)
    produced = LicenceProducer(embedded, formats=(*FORMATS, _MetadataSheet())).produce(
        _spec(embedded, new_department(embedded), 900001)
    )
    assert list(produced.files) == ["electronic", "print", "metadata-sheet"]
    assert renders == ["render"]  # one layout pass feeds every format
    sheet = json.loads(embedded.blobs.get(produced.files["metadata-sheet"].sha256))
    electronic = embedded.blobs.get(produced.signed_sha256)
    assert read_licence_metadata(electronic) == {k: v for k, v in sheet.items() if k != "qr"}
    assert sheet["area_code"] == AREA_CODE
    assert crypto.validate_pdf(electronic, trust_roots_der=embedded.trust_roots()).bottom_line


def test_seal_keys_come_from_the_context_key_source_once(embedded: ServiceContext) -> None:
    opened: list[str] = []
    files = embedded.signing_keys
    assert files is not None

    class _Source:
        def open(self, key_ref: str, *, certificate_der: bytes, chain_der: Sequence[bytes]) -> crypto.SigningKey:
            opened.append(key_ref)
            assert files is not None
            return files.open(key_ref, certificate_der=certificate_der, chain_der=chain_der)

    ctx = replace(embedded, signing_keys=_Source(), _seals={}, _seals_lock=threading.Lock())
    department = new_department(embedded)
    first = LicenceProducer(ctx).produce(_spec(ctx, department, 900002))
    second = LicenceProducer(ctx).produce(_spec(ctx, department, 900003))
    assert len(opened) == 1  # one key lookup, kept for every later version
    for produced in (first, second):
        pdf = ctx.blobs.get(produced.signed_sha256)
        assert crypto.validate_pdf(pdf, trust_roots_der=ctx.trust_roots()).bottom_line


# --- every flow: metadata and QR agree with the registry -------------------------------------
def _current(ctx: ServiceContext, certificate_id: int) -> tuple[dict[str, str], CertificateVersion, str]:
    """(the registry's metadata of the current version, the version row, its first signing date)."""
    with ctx.database.read() as session:
        cert = session.get(Certificate, certificate_id)
        assert cert is not None
        version = next(v for v in cert.versions if v.version == cert.current_version)
        first_signed = min(v.signed_at for v in cert.versions if v.identifier == version.identifier)
        record = licence_record_of(cert, ctx.templates)
        return record.gbt36903_metadata(version.identifier, issued_on=first_signed.date()), version, version.identifier


def _assert_files_agree_with_registry(ctx: ServiceContext, certificate_id: int, tmp_path: Path) -> dict[str, dict[str, str]]:
    expected, version, identifier = _current(ctx, certificate_id)
    assert expected["area_code"] == AREA_CODE
    found = {}
    for variant, digest in (("electronic", version.sha256), ("print", version.print_sha256)):
        pdf = ctx.blobs.get(digest)
        metadata = read_licence_metadata(pdf)
        assert metadata == expected, variant
        scans = tmp_path / f"{certificate_id}-{version.version}-{variant}"
        scans.mkdir()
        text, _ = scan_pdf(pdf, scans)
        result = QrService(ctx).verify_text(text)
        codes = {r.code for r in result.report.reasons}
        assert "qr_signature_valid" in codes and "qr_data_mismatch" not in codes, (variant, codes)
        assert result.claims is not None and result.claims.identifier == identifier
        assert result.report.registry is not None and result.report.registry.is_issued_file, variant
        found[variant] = metadata
    return found


def _import_one(ctx: ServiceContext, department: TestDepartment, tmp_path: Path) -> int:
    rows = list(csv.reader((TEMPLATES / FOOD / "sample.csv").open(encoding="utf-8", newline="")))
    path = tmp_path / "records.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows(rows[:2])
    service = BatchService(ctx)
    created, _ = service.create_import_job(path, template=FOOD, department_code=department.code, principal=OPERATOR)
    assert service.run(created.job_id, principal=OPERATOR, workers=0).done == 1
    with ctx.database.read() as session:
        return int(session.scalars(select(Certificate.id).where(Certificate.department_id == department.id)).one())


@pytest.mark.slow
def test_issuance_amend_import_and_resign_write_metadata_and_qr_that_agree_with_the_registry(
    embedded: ServiceContext, tmp_path: Path
) -> None:
    department = new_department(embedded)
    scans = tmp_path / "scans"
    scans.mkdir()

    imported = _import_one(embedded, department, tmp_path)
    _assert_files_agree_with_registry(embedded, imported, scans)

    issuer = Principal(client_id=0, name="test-issuer", role=Role.ISSUER, department_id=department.id, department_code=department.code)
    request = parse_issue_request(json.loads((TEMPLATES / FOOD / "sample.json").read_text(encoding="utf-8")))
    issued = IssuanceService(embedded).issue(request, principal=issuer)
    with embedded.database.read() as session:
        issued_id = int(session.scalars(select(Certificate.id).where(Certificate.identifier == issued.identifier)).one())
    _assert_files_agree_with_registry(embedded, issued_id, scans)

    amendment = parse_amend_request({"reason": "经营场所变更", "fields": {"business_premises": "江苏省无锡市梁溪区解放南路8号"}})
    amended = LifecycleService(embedded, background_webhooks=False).amend(issued.identifier, amendment, principal=issuer)
    after_amend = _assert_files_agree_with_registry(embedded, issued_id, scans)
    assert after_amend["electronic"]["identifier"] == amended.identifier

    # A seal with another name has another image: re-signing redraws the print copy.
    seal_id = new_seal(embedded, department.code, algorithm=crypto.KeyAlgorithm.SM2, name="行政审批专用章（换章）")
    before = {cid: _current(embedded, cid)[0] for cid in (imported, issued_id)}
    service = BatchService(embedded)
    created = service.create_resign_job(to_seal_id=seal_id, principal=OPERATOR, reason="换章", department_code=department.code)
    assert service.run(created.job_id, principal=OPERATOR, workers=0).done == 2
    for cid in (imported, issued_id):
        files = _assert_files_agree_with_registry(embedded, cid, scans)
        _, version, _ = _current(embedded, cid)
        assert version.seal_id == seal_id
        # Every metadata field of the version re-signed is kept, in both files.
        assert files["electronic"] == files["print"] == before[cid]
