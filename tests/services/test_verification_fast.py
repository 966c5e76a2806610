"""Verifying a file the registry sealed reuses the outcome recorded the first time those bytes
were verified — and says the same.

Every report here is compared whole with the forced full validation of the same bytes at the
same instant, and each case also asserts which path ran (the reference validator is counted,
not replaced), so a comparison can never pass because both sides took the same path by accident.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from certsvc.clock import FixedClock
from certsvc.config import load_settings
from certsvc.crypto import api as crypto
from certsvc.domain.reports import Verdict, VerificationReport
from certsvc.domain.status import LicenceAction
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.issuance import IssuanceService, IssuedCertificate
from certsvc.services.lifecycle import LifecycleService, parse_amend_request
from certsvc.services.principals import Principal, local_operator
from certsvc.services.provisioning import init_embedded
from certsvc.services.revocation import RevocationService
from certsvc.services.verification import VerificationService
from certsvc.storage.orm import CertificateVersion
from tests import pdf_attacks
from tests.services.helpers import FOOD, new_issuer, sample_issue_request

# The instant the deployment's clock starts at: today, so that the samples' dates are current.
T0 = datetime.now(UTC).replace(microsecond=0)


@dataclasses.dataclass
class World:
    ctx: ServiceContext
    clock: FixedClock
    sm2: Principal
    ecdsa: Principal
    rsa: Principal


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    clock = FixedClock(T0)
    # The default PAdES level (B-LTA): a signature time-stamp, DSS and a document time-stamp.
    ctx = build_context(load_settings(home=tmp_path_factory.mktemp("fastverify")), clock=clock)
    init_embedded(ctx)
    _, sm2 = new_issuer(ctx, algorithm=crypto.KeyAlgorithm.SM2)
    _, ecdsa = new_issuer(ctx, algorithm=crypto.KeyAlgorithm.ECDSA_P256)
    _, rsa = new_issuer(ctx, algorithm=crypto.KeyAlgorithm.RSA_3072)
    yield World(ctx, clock, sm2, ecdsa, rsa)
    clock.advance(T0 - clock.now())
    ctx.database.dispose()


@pytest.fixture()
def clock(world: World) -> Iterator[FixedClock]:
    start = world.clock.now()
    yield world.clock
    world.clock.advance(start - world.clock.now())


_serials = itertools.count(1)


def _issue(
    world: World, principal: Principal, slug: str = FOOD, **changes: Any
) -> tuple[IssuedCertificate, bytes]:
    request = sample_issue_request(slug, **changes)
    if slug == FOOD:  # one licence per number: each test licence its own
        request = request.model_copy(
            update={
                "fields": {**request.fields, "licence_number": f"JY2152502{next(_serials):07d}"}
            }
        )
    issued = IssuanceService(world.ctx).issue(request, principal=principal)
    data = world.ctx.blobs.get(issued.sha256)
    VerificationService(world.ctx).verify_pdf(data)  # the first verification keeps the record
    return issued, data


def _both(
    ctx: ServiceContext, data: bytes, *, at: datetime | None = None
) -> tuple[VerificationReport, VerificationReport, bool]:
    """The default report, the forced full one, and whether the default ran the reference validator."""
    calls: list[int] = []
    reference = crypto.validate_pdf

    def counted(*args: Any, **kwargs: Any) -> crypto.PdfValidationResult:
        calls.append(1)
        return reference(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(crypto, "validate_pdf", counted)
        default = VerificationService(ctx).verify_pdf(data, at=at)
        ran_reference = bool(calls)
    full = VerificationService(ctx).verify_pdf(data, at=at, full=True)
    return default, full, ran_reference


def _fast_and_same(
    ctx: ServiceContext, data: bytes, *, at: datetime | None = None
) -> VerificationReport:
    default, full, ran_reference = _both(ctx, data, at=at)
    assert not ran_reference, "the recorded outcome was not reused"
    assert default == full
    return default


def _full_and_same(
    ctx: ServiceContext, data: bytes, *, at: datetime | None = None
) -> VerificationReport:
    default, full, ran_reference = _both(ctx, data, at=at)
    assert ran_reference, "the fast path was taken"
    assert default == full
    return default


def _codes(report: VerificationReport) -> set[str]:
    return {r.code for r in report.reasons}


def _version(ctx: ServiceContext, sha256: str) -> CertificateVersion:
    with ctx.database.read() as session:
        version = session.scalars(
            select(CertificateVersion).where(CertificateVersion.sha256 == sha256)
        ).one()
        session.expunge(version)
        return version


def _set_record(ctx: ServiceContext, of_sha256: str, **columns: Any) -> None:
    with ctx.database.transaction() as session:
        version = session.scalars(
            select(CertificateVersion).where(CertificateVersion.sha256 == of_sha256)
        ).one()
        for name, value in columns.items():
            setattr(version, name, value)


def test_every_template_with_an_sm2_seal_is_fast_and_the_same(world: World) -> None:
    for template in world.ctx.templates.all():
        _, data = _issue(world, world.sm2, template.slug)
        report = _fast_and_same(world.ctx, data)
        assert report.verdict is Verdict.VALID, (template.slug, _codes(report))
        assert {"signature_valid", "seal_data_valid", "licence_valid"} <= _codes(report)
        assert report.registry is not None and report.registry.is_issued_file


@pytest.mark.parametrize("algorithm", ["ecdsa", "rsa"])
def test_ecdsa_and_rsa_seals_are_fast_and_the_same(world: World, algorithm: str) -> None:
    _, data = _issue(world, getattr(world, algorithm))
    report = _fast_and_same(world.ctx, data)
    assert report.verdict is Verdict.VALID, _codes(report)
    assert [s.modification_level for s in report.signatures] == [
        "archival",
        "none",
    ]  # B-LTA: seal, then a DTS


@pytest.mark.parametrize(
    ("action", "code"),
    [
        (LicenceAction.SUSPEND, "licence_suspended"),
        (LicenceAction.REVOKE, "licence_revoked"),
        (LicenceAction.CANCEL, "licence_cancelled"),
    ],
)
def test_status_changes_are_the_same(world: World, action: LicenceAction, code: str) -> None:
    issued, data = _issue(world, world.sm2)
    LifecycleService(world.ctx, background_webhooks=False).change_status(
        issued.identifier, action, reason="核查", principal=world.sm2
    )
    report = _fast_and_same(world.ctx, data)
    assert report.verdict is Verdict.INVALID and code in _codes(report)


def test_an_amended_licence_old_and_new_files_are_the_same(world: World) -> None:
    issued, old = _issue(world, world.sm2)
    amended = LifecycleService(world.ctx, background_webhooks=False).amend(
        issued.identifier,
        parse_amend_request({"reason": "变更", "holder_name": "锡林浩特市新名称有限公司"}),
        principal=world.sm2,
    )
    superseded = _fast_and_same(world.ctx, old)
    assert superseded.verdict is Verdict.INDETERMINATE and "licence_superseded" in _codes(
        superseded
    )
    new = world.ctx.blobs.get(amended.sha256)
    assert _full_and_same(world.ctx, new).verdict is Verdict.VALID  # its first verification
    current = _fast_and_same(world.ctx, new)
    assert current.verdict is Verdict.VALID


def test_an_expired_licence_is_the_same(world: World, clock: FixedClock) -> None:
    tomorrow = (T0 + timedelta(days=1)).date()
    _, data = _issue(
        world, world.sm2, valid_from=T0.date().isoformat(), valid_until=tomorrow.isoformat()
    )
    clock.advance(timedelta(days=3))
    report = _fast_and_same(world.ctx, data)
    assert report.verdict is Verdict.INVALID and "licence_expired" in _codes(report)


@pytest.mark.parametrize(
    ("offset", "code"),
    [
        (timedelta(hours=1), "sealed_before_revocation"),
        (-timedelta(hours=1), "sealed_after_key_compromise"),
    ],
)
def test_a_revoked_seal_is_the_same(
    world: World, clock: FixedClock, offset: timedelta, code: str
) -> None:
    _, principal = new_issuer(world.ctx, algorithm=crypto.KeyAlgorithm.ECDSA_P256)
    _, data = _issue(world, principal)
    version = _version(world.ctx, crypto.sha256(data))
    clock.advance(timedelta(hours=2))
    RevocationService(world.ctx).revoke_seal(
        version.seal_id,
        reason="key-compromise",
        invalid_from=version.signed_at + offset,
        principal=local_operator(),
    )
    report = _fast_and_same(world.ctx, data)
    assert code in _codes(report), _codes(report)


def test_validation_at_a_later_instant(world: World) -> None:
    _, data = _issue(world, world.sm2)
    record = _version(world.ctx, crypto.sha256(data)).sealing_record
    assert record is not None
    first_expiry = min(datetime.fromisoformat(after) for _, after in record["windows"])
    # Still inside every certificate's validity: reused, the same.
    assert _fast_and_same(world.ctx, data, at=T0 + timedelta(days=30)).verdict is Verdict.VALID
    # After the first of them (the TSA's, the seal's or a CA's) expired: the reference decides.
    _full_and_same(world.ctx, data, at=first_expiry + timedelta(days=1))
    # Near a bound, and before the file was sealed: the reference decides too.
    _full_and_same(world.ctx, data, at=first_expiry - timedelta(minutes=1))
    _full_and_same(world.ctx, data, at=T0 - timedelta(days=1))


def test_a_changed_set_of_trust_roots_is_validated_in_full(world: World) -> None:
    _, data = _issue(world, world.ecdsa)
    key = crypto.SealKey.generate(crypto.KeyAlgorithm.ECDSA_P256)
    extra = crypto.make_root_ca(
        key=key,
        common_name="另一个根",
        organization="测试",
        not_before=T0 - timedelta(days=1),
        not_after=T0 + timedelta(days=365),
    )
    path = world.ctx.trust_roots_dir / "zz-extra-root.der"
    path.write_bytes(extra)
    try:
        _full_and_same(world.ctx, data)
    finally:
        path.unlink()
    # The record was made again under the changed set: back to the old set, the reference
    # decides once more and records anew.
    _full_and_same(world.ctx, data)
    _fast_and_same(world.ctx, data)


# --- an attacker's files never take the fast path ------------------------------------------
@pytest.mark.parametrize(
    "attack",
    [
        pdf_attacks.isa_page_content,
        pdf_attacks.appended_bytes,
        pdf_attacks.metadata_rewrite,
        pdf_attacks.second_signature_over_changes,
    ],
)
def test_files_made_from_an_issued_one_get_the_full_validation(world: World, attack: Any) -> None:
    _, data = _issue(world, world.ecdsa)
    report = _full_and_same(world.ctx, attack(data))
    assert report.verdict is not Verdict.VALID, _codes(report)


def test_one_byte_changed_gets_the_full_validation(world: World) -> None:
    _, data = _issue(world, world.sm2)
    at = data.index(b"ReportLab")
    report = _full_and_same(world.ctx, data[:at] + b"X" + data[at + 1 :])
    assert report.verdict is Verdict.INVALID and "signature_broken" in _codes(report)


def test_a_registry_row_pointed_at_a_forged_file_does_not_vouch_for_it(world: World) -> None:
    """Someone who can write rows (not the key) gives a version the hash of a file they made."""
    issued, data = _issue(world, world.sm2)
    forged = pdf_attacks.isa_page_content(data)
    _set_record(world.ctx, issued.sha256, sha256=crypto.sha256(forged))
    try:
        report = _full_and_same(world.ctx, forged)
        assert report.verdict is Verdict.INVALID, _codes(report)
    finally:
        _set_record(world.ctx, crypto.sha256(forged), sha256=issued.sha256)


def test_a_record_changed_or_moved_in_the_database_is_not_reused(world: World) -> None:
    first, first_data = _issue(world, world.sm2)
    second, second_data = _issue(world, world.sm2)
    record = _version(world.ctx, first.sha256).sealing_record
    assert record is not None
    # Edited (the names of the file and its revision replaced), keeping the old MAC.
    edited = json.loads(json.dumps(record).replace(first.sha256, second.sha256))
    # Re-authenticated with a key that is not the registry's.
    body = {k: v for k, v in edited.items() if k != "mac"}
    guessed = {
        **body,
        "mac": hmac.new(
            b"guessed",
            json.dumps(body, sort_keys=True, separators=(",", ":")).encode(),
            hashlib.sha256,
        ).hexdigest(),
    }
    for planted in (record, edited, guessed):
        _set_record(world.ctx, second.sha256, sealing_record=planted)
        _full_and_same(world.ctx, second_data)
    _set_record(world.ctx, second.sha256, sealing_record=None)
    assert _full_and_same(world.ctx, second_data).verdict is Verdict.VALID
    _fast_and_same(world.ctx, first_data)


def test_a_print_copy_and_an_unsigned_render_are_validated_in_full(world: World) -> None:
    issued, _ = _issue(world, world.sm2)
    version = _version(world.ctx, issued.sha256)
    for sha in (version.print_sha256, version.unsigned_sha256):
        report = _full_and_same(world.ctx, world.ctx.blobs.get(sha))
        assert report.verdict is not Verdict.VALID


def test_the_record_is_made_by_the_first_verification_and_only_for_an_all_good_file(world: World) -> None:
    request = sample_issue_request(FOOD)
    request = request.model_copy(
        update={"fields": {**request.fields, "licence_number": f"JY2152502{next(_serials):07d}"}}
    )
    unverified = IssuanceService(world.ctx).issue(request, principal=world.sm2)
    assert _version(world.ctx, unverified.sha256).sealing_record is None  # sealing costs nothing more
    # A verification at another instant keeps nothing: the record is made at the present one.
    VerificationService(world.ctx).verify_pdf(world.ctx.blobs.get(unverified.sha256), at=T0 + timedelta(days=1))
    assert _version(world.ctx, unverified.sha256).sealing_record is None
    issued, data = _issue(world, world.sm2)
    record = _version(world.ctx, issued.sha256).sealing_record
    assert (
        record is not None and record["sha256"] == issued.sha256 and len(record["signatures"]) == 2
    )
    # A file the reference does not find all good is never recorded.
    result = crypto.validate_pdf(
        pdf_attacks.isa_page_content(data), trust_roots_der=world.ctx.trust_roots()
    )
    assert not crypto.is_all_good(result)
    assert crypto.is_all_good(crypto.validate_pdf(data, trust_roots_der=world.ctx.trust_roots()))
    assert date.fromisoformat(record["recorded_at"][:10]) == T0.date()
