"""PAdES B-LTA licences on a moved clock: what stays valid after the seal certificate expires.

One deployment issues the same licence twice at T0: once B-B (no time-stamp, no validation data)
and once B-LTA (signature time-stamp, DSS with chain and CRL, document time-stamp). Six years
later the seal certificate (five years) has expired: the B-B file is indeterminate, the B-LTA
file is valid with a reason that names what proves it. (A licence sealed after its seal was
revoked is invalid: tests/services/test_revocation.py.)
"""

from __future__ import annotations

import io
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from certsvc.api.app import create_app
from certsvc.clock import FixedClock
from certsvc.config import load_settings
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.demo_departments import DEMO_DEPARTMENTS
from certsvc.services.embedded_init import init_embedded
from certsvc.services.issuance import IssuanceService
from certsvc.services.principals import Principal, Role
from certsvc.services.provisioning import department_by_code
from certsvc.services.registry import RegistryService
from certsvc.services.requests import parse_issue_request
from certsvc.services.verification import VerificationService
from tests.conftest import sample_request
from tests.pdfa import pdfa_2b_problems

T0 = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)
SIX_YEARS = timedelta(days=6 * 366)


def _issue(ctx: ServiceContext, code: str) -> bytes:
    with ctx.database.read() as session:
        department = department_by_code(session, code)
        principal = Principal(client_id=0, name="t", role=Role.ISSUER, department_id=department.id, department_code=code)
    # A decision letter: its period is the department's to set, so it can outlive the seal (20 years).
    request = {**sample_request("administrative-licensing-decision"), "valid_until": "2046-03-14"}
    issued = IssuanceService(ctx).issue(parse_issue_request(request), principal=principal)
    return RegistryService(ctx).file(issued.identifier, principal=principal).read()


# The first demo department of each key algorithm (the 锡林郭勒盟 bureaus, which issue decision letters).
ONE_PER_ALGORITHM = {algorithm: demo for demo in reversed(DEMO_DEPARTMENTS) for algorithm in [demo.algorithm.value]}


@pytest.fixture(scope="module")
def licences(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FixedClock, ServiceContext, dict[str, bytes]]]:
    home = tmp_path_factory.mktemp("ltv")
    clock = FixedClock(T0)
    lta = build_context(load_settings(home=home, public_rate_limit_per_minute=0), clock=clock)
    init_embedded(lta)
    bb = build_context(load_settings(home=home, pades_level="B-B"), clock=clock, migrate=False)
    files = {}
    for label, ctx in (("lta", lta), ("bb", bb)):
        for algorithm, demo in ONE_PER_ALGORITHM.items():
            files[f"{label}-{algorithm}"] = _issue(ctx, demo.code)
    bb.database.dispose()
    yield clock, lta, files
    clock.advance(-(clock.now() - T0))
    lta.database.dispose()


def _report(ctx: ServiceContext, pdf: bytes, at: datetime | None = None) -> tuple[str, dict[str, str]]:
    report = VerificationService(ctx).verify_pdf(pdf, at=at)
    return report.verdict.value, {r.code: r.message_en for r in report.reasons}


ALGORITHMS = list(ONE_PER_ALGORITHM)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_both_are_valid_today(licences: tuple[FixedClock, ServiceContext, dict[str, bytes]], algorithm: str) -> None:
    _, ctx, files = licences
    for label in ("lta", "bb"):
        verdict, reasons = _report(ctx, files[f"{label}-{algorithm}"])
        assert verdict == "valid", (label, reasons)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_b_lta_file_has_dss_and_a_document_time_stamp(
    licences: tuple[FixedClock, ServiceContext, dict[str, bytes]], algorithm: str
) -> None:
    from pyhanko.pdf_utils.reader import PdfFileReader

    _, _, files = licences
    reader = PdfFileReader(io.BytesIO(files[f"lta-{algorithm}"]))
    dss = reader.root["/DSS"]
    assert len(dss["/Certs"]) >= 4  # seal, seal CA, root, TSA
    assert len(dss["/CRLs"]) == 1
    kinds = [str(s.sig_object_type) for s in reader.embedded_signatures]
    assert kinds == ["/Sig", "/DocTimeStamp"]
    assert pdfa_2b_problems(files[f"lta-{algorithm}"]) == []
    plain = PdfFileReader(io.BytesIO(files[f"bb-{algorithm}"]))
    assert "/DSS" not in plain.root and len(plain.embedded_signatures) == 1


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="pdfsig not installed")
def test_pdfsig_still_validates_and_shows_the_time_stamp(
    licences: tuple[FixedClock, ServiceContext, dict[str, bytes]], tmp_path: Path
) -> None:
    _, _, files = licences
    path = tmp_path / "lta.pdf"
    path.write_bytes(files["lta-ecdsa-p256"])
    out = subprocess.run(["pdfsig", path], capture_output=True, text=True).stdout
    assert "Signature #1" in out and "Signature Validation: Signature is Valid." in out
    assert "Signature #2" in out and "certsvc Development TSA (ECDSA)" in out  # the document time-stamp


def test_future_date_via_the_api(licences: tuple[FixedClock, ServiceContext, dict[str, bytes]]) -> None:
    _, ctx, files = licences
    with TestClient(create_app(ctx)) as client:
        def verify(pdf: bytes, at: str) -> dict[str, object]:
            answer = client.post("/api/v1/verify", params={"at": at}, content=pdf, headers={"Content-Type": "application/pdf"})
            assert answer.status_code == 200, answer.text
            body: dict[str, object] = answer.json()
            return body

        lta = verify(files["lta-ecdsa-p256"], "2040-01-01T00:00:00Z")
        assert lta["verdict"] == "valid", lta
        assert "proven_by_archival_timestamp" in {r["code"] for r in lta["reasons"]}  # type: ignore[index, union-attr]
        assert verify(files["bb-ecdsa-p256"], "2040-01-01T00:00:00Z")["verdict"] == "indeterminate"
        bad = client.post("/api/v1/verify", params={"at": "soon"}, content=files["bb-ecdsa-p256"], headers={"Content-Type": "application/pdf"})
        assert bad.status_code == 422


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_after_the_seal_certificate_expired(
    licences: tuple[FixedClock, ServiceContext, dict[str, bytes]], algorithm: str
) -> None:
    clock, ctx, files = licences
    clock.advance(T0 + SIX_YEARS - clock.now())
    verdict, reasons = _report(ctx, files[f"bb-{algorithm}"])
    assert verdict == "indeterminate", reasons
    assert "signer_untrusted" in reasons
    verdict, reasons = _report(ctx, files[f"lta-{algorithm}"])
    assert verdict == "valid", reasons
    proof = reasons["proven_by_archival_timestamp"]
    assert "signature time-stamp 2026-03-15" in proof and "document time-stamp 2026-03-15" in proof
