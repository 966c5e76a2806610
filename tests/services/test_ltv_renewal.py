"""Archival renewal on a moved clock: ``ltv renew`` adds a newer document time-stamp to the
licences whose newest time-stamp's TSA certificate ends soon, and that keeps them valid after
both their seal certificate and their first TSA certificate have ended.

T0: the built-in ECDSA TSA gets a certificate of two years; licence A is issued.
T0 + 1.5 years: a renewal with the same TSA is refused (it would not outlive the threshold);
the TSA's certificate is renewed (``renew_dev_tsa``); licence B is issued; ``ltv renew`` with a
one-year threshold renews A only, once. T0 + 6 years (seal and first TSA certificate ended): A
as issued is indeterminate, A renewed is valid and says what proves it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from certsvc.clock import FixedClock
from certsvc.config import load_settings
from certsvc.crypto import api as crypto
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.demo_departments import DEMO_DEPARTMENTS
from certsvc.services.embedded_init import init_embedded
from certsvc.services.issuance import IssuanceService
from certsvc.services.ltv_renewal import RenewalPolicy, create_renewal_job, plan_renewal
from certsvc.services.principals import Principal, Role, local_operator
from certsvc.services.provisioning import department_by_code
from certsvc.services.registry import RegistryService
from certsvc.services.requests import parse_issue_request
from certsvc.services.timestamping import dev_tsa_info, renew_dev_tsa
from certsvc.services.verification import VerificationService
from tests.conftest import sample_request
from tests.pdfa import pdfa_2b_problems

T0 = datetime(2026, 4, 1, 2, 0, tzinfo=UTC)
ECDSA = next(d for d in DEMO_DEPARTMENTS if d.algorithm.value == "ecdsa-p256")
OPERATOR = local_operator()


def _issue(ctx: ServiceContext) -> str:
    with ctx.database.read() as session:
        department = department_by_code(session, ECDSA.code)
        principal = Principal(client_id=0, name="t", role=Role.ISSUER, department_id=department.id, department_code=ECDSA.code)
    # A decision letter: its period is the department's to set, so it can outlive the seal (20 years).
    request = {**sample_request("administrative-licensing-decision"), "valid_until": "2046-03-14"}
    return IssuanceService(ctx).issue(parse_issue_request(request), principal=principal).identifier


def _file(ctx: ServiceContext, identifier: str) -> bytes:
    return RegistryService(ctx).file(identifier, principal=OPERATOR).read()


@pytest.fixture(scope="module")
def renewed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    clock = FixedClock(T0)
    ctx = build_context(load_settings(home=tmp_path_factory.mktemp("renewal"), public_rate_limit_per_minute=0), clock=clock)
    init_embedded(ctx)
    first_tsa = renew_dev_tsa(ctx, "ecdsa", validity_days=730)
    a = _issue(ctx)
    a_issued = _file(ctx, a)
    clock.advance(timedelta(days=548))

    refused, _ = create_renewal_job(ctx, within_days=365, principal=OPERATOR)
    refused_progress = BatchService(ctx).run(refused.job_id, principal=OPERATOR, workers=0)
    refused_codes = [f.error_code for f in BatchService(ctx).failures(refused.job_id, principal=OPERATOR)]

    second_tsa = renew_dev_tsa(ctx, "ecdsa")
    b = _issue(ctx)
    plan = plan_renewal(ctx, RenewalPolicy.of(now=clock.now(), within_days=365), principal=OPERATOR)
    created, _ = create_renewal_job(ctx, within_days=365, principal=OPERATOR)
    progress = BatchService(ctx).run(created.job_id, principal=OPERATOR, workers=0)
    again = plan_renewal(ctx, RenewalPolicy.of(now=clock.now(), within_days=365), principal=OPERATOR)
    weak = plan_renewal(ctx, RenewalPolicy.of(now=clock.now(), within_days=365, weak_digests=["sha256"]), principal=OPERATOR)
    yield {
        "ctx": ctx, "clock": clock, "a": a, "b": b, "a_issued": a_issued, "a_renewed": _file(ctx, a),
        "b_file": _file(ctx, b), "first_tsa": first_tsa, "second_tsa": second_tsa, "plan": plan, "progress": progress,
        "again": again, "weak": weak, "refused": refused_progress, "refused_codes": refused_codes,
    }  # fmt: skip
    ctx.database.dispose()


def test_a_renewal_from_a_tsa_that_ends_too_soon_is_refused(renewed: dict[str, object]) -> None:
    progress = renewed["refused"]
    assert progress.total == 1 and progress.failed == 1  # type: ignore[attr-defined]
    assert renewed["refused_codes"] == ["tsa_certificate_ends_too_soon"]


def test_only_licences_whose_tsa_certificate_ends_soon_are_renewed_once(renewed: dict[str, object]) -> None:
    plan, again, weak = renewed["plan"], renewed["again"], renewed["weak"]
    assert (plan.scanned, plan.due, plan.not_due) == (2, 1, 1)  # type: ignore[attr-defined]
    assert [i["key"] for i in plan.items] == [renewed["a"]]  # type: ignore[attr-defined]
    assert "ends" in plan.items[0]["payload"]["due"]  # type: ignore[attr-defined]
    progress = renewed["progress"]
    assert (progress.total, progress.done, progress.failed) == (1, 1, 0)  # type: ignore[attr-defined]
    assert again.due == 0 and again.not_due == 2  # type: ignore[attr-defined]
    # A digest the operator no longer trusts makes every licence stamped with it due.
    assert weak.due == 2  # type: ignore[attr-defined]


def test_the_renewed_file_carries_the_new_tsa_time_stamp(renewed: dict[str, object]) -> None:
    issued, renewed_file = renewed["a_issued"], renewed["a_renewed"]
    assert isinstance(issued, bytes) and isinstance(renewed_file, bytes)
    assert renewed_file.startswith(issued) and len(renewed_file) > len(issued)  # one more revision
    before, after = crypto.newest_timestamp(issued), crypto.newest_timestamp(renewed_file)
    assert before is not None and after is not None and after.is_document_timestamp
    assert before.tsa_not_after == renewed["first_tsa"].not_after  # type: ignore[attr-defined]
    assert after.tsa_not_after == renewed["second_tsa"].not_after  # type: ignore[attr-defined]
    assert after.gen_time == T0 + timedelta(days=548)
    assert pdfa_2b_problems(renewed_file) == []


def test_after_seal_and_first_tsa_ended_only_the_renewed_file_is_proven(renewed: dict[str, object]) -> None:
    ctx = renewed["ctx"]
    assert isinstance(ctx, ServiceContext)
    at = T0 + timedelta(days=6 * 366)
    verifier = VerificationService(ctx)
    issued = verifier.verify_pdf(renewed["a_issued"], at=at)  # type: ignore[arg-type]
    assert issued.verdict.value == "indeterminate", [r.code for r in issued.reasons]
    report = verifier.verify_pdf(renewed["a_renewed"], at=at)  # type: ignore[arg-type]
    codes = {r.code: r.message_en for r in report.reasons}
    assert report.verdict.value == "valid", codes
    assert "proven_by_archival_timestamp" in codes
    assert (T0 + timedelta(days=548)).isoformat() in codes["proven_by_archival_timestamp"]
    # Both copies are the licence the registry issued.
    assert issued.registry is not None and report.registry is not None
    assert issued.registry.identifier == report.registry.identifier == renewed["a"]


def test_renewal_thresholds_are_checked(renewed: dict[str, object]) -> None:
    from certsvc.errors import BadRequestError

    ctx = renewed["ctx"]
    assert isinstance(ctx, ServiceContext)
    with pytest.raises(BadRequestError) as negative:
        RenewalPolicy.of(now=T0, within_days=-1)
    assert negative.value.code == "invalid_threshold"
    with pytest.raises(BadRequestError) as unknown:
        RenewalPolicy.of(now=T0, within_days=1, weak_digests=["sha3"])
    assert unknown.value.code == "unknown_digest"
    assert dev_tsa_info(ctx, "ecdsa").not_after == renewed["second_tsa"].not_after  # type: ignore[attr-defined]


@pytest.mark.skipif(shutil.which("pdfsig") is None, reason="pdfsig not installed")
def test_pdfsig_validates_the_renewed_file_and_lists_both_document_time_stamps(renewed: dict[str, object], tmp_path: Path) -> None:
    path = tmp_path / "renewed.pdf"
    path.write_bytes(renewed["a_renewed"])  # type: ignore[arg-type]
    out = subprocess.run(["pdfsig", path], capture_output=True, text=True).stdout
    assert "Signature #1" in out and "Signature Validation: Signature is Valid." in out
    assert "Signature #3" in out and out.count("certsvc Development TSA (ECDSA)") >= 2, out
