"""One key-compromise policy: `batch resign --compromised-at` and `seal revoke --reason
key-compromise --at` record the same revocation, and verification applies one rule to it
(domain/revocation_policy.py) — a seal counts only if a trusted time-stamp or the registry's own
record proves it older than the compromise.

B-B licences on purpose: they carry no time-stamp, so only the registry's record can prove
their age; a file sealed with the stolen key outside the registry has no proof at all.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from certsvc.clock import FixedClock
from certsvc.config import load_settings
from certsvc.crypto import api as crypto
from certsvc.errors import ConflictError
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.demo_departments import DEMO_DEPARTMENTS
from certsvc.services.embedded_init import init_embedded
from certsvc.services.issuance import IssuanceService
from certsvc.services.principals import Principal, Role, local_operator
from certsvc.services.producer import SealSnapshot
from certsvc.services.provisioning import department_by_code
from certsvc.services.registry import RegistryService
from certsvc.services.requests import parse_issue_request
from certsvc.services.revocation import RevocationService, adopt_recorded_compromises
from certsvc.services.verification import VerificationService
from certsvc.storage.orm import Certificate, CertificateVersion, Seal
from certsvc.storage.repositories import SealRepository
from certsvc.storage.repositories_revocation import SealRevocationRepository
from tests.conftest import sample_request
from tests.jobs.batch_helpers import new_seal

T0 = datetime(2026, 5, 4, 1, 0, tzinfo=UTC)
CODE = DEMO_DEPARTMENTS[0].code
OPERATOR = local_operator()


def _issue(ctx: ServiceContext) -> tuple[str, bytes]:
    with ctx.database.read() as session:
        department = department_by_code(session, CODE)
        principal = Principal(client_id=0, name="t", role=Role.ISSUER, department_id=department.id, department_code=CODE)
    issued = IssuanceService(ctx).issue(parse_issue_request({**sample_request(), "template": "food-business-licence"}), principal=principal)
    return issued.identifier, RegistryService(ctx).file(issued.identifier, principal=principal).read()


def _forge(ctx: ServiceContext, identifier: str, seal_id: int) -> bytes:
    """What a thief of the seal key can make: the licence's page sealed again, outside the registry."""
    with ctx.database.read() as session:
        seal = session.get(Seal, seal_id)
        cert = session.query(Certificate).filter_by(identifier=identifier).one()
        version = session.query(CertificateVersion).filter_by(certificate_id=cert.id, version=1).one()
        assert seal is not None
        snapshot, unsigned_sha, box = SealSnapshot.of(seal), version.unsigned_sha256, version.seal_box
    from certsvc.services.producer import box_from_json

    signer = ctx.loaded_seal(snapshot)
    with signer.lock:
        return signer.sealer.seal(
            ctx.blobs.get(unsigned_sha), box=box_from_json(box), department_name="锡林郭勒盟市场监督管理局",
            signed_at=ctx.clock.now(), reason="伪造",
        )  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, object]]:
    clock = FixedClock(T0)
    ctx = build_context(load_settings(home=tmp_path_factory.mktemp("compromise"), pades_level="B-B"), clock=clock)
    init_embedded(ctx)
    with ctx.database.read() as session:
        seal = SealRepository(session).active_for(department_by_code(session, CODE).id, clock.now())
        assert seal is not None
        old_seal = seal.id
    early = _issue(ctx)
    clock.advance(timedelta(days=1))
    late = _issue(ctx)
    forged = _forge(ctx, early[0], old_seal)
    clock.advance(timedelta(days=1))
    new = new_seal(ctx, CODE, algorithm=crypto.KeyAlgorithm.ECDSA_P256)
    batches = BatchService(ctx)
    created = batches.create_resign_job(
        to_seal_id=new, from_seal_id=old_seal, principal=OPERATOR, reason="key compromise", compromised_at=T0 + timedelta(hours=12)
    )
    assert batches.run(created.job_id, principal=OPERATOR, workers=0).done == 2
    yield {"ctx": ctx, "clock": clock, "old_seal": old_seal, "early": early[1], "late": late[1], "forged": forged}
    ctx.database.dispose()


def _codes(ctx: object, pdf: object) -> tuple[str, dict[str, str]]:
    assert isinstance(ctx, ServiceContext) and isinstance(pdf, bytes)
    report = VerificationService(ctx).verify_pdf(pdf)
    return report.verdict.value, {r.code: r.message_en for r in report.reasons}


def test_the_resign_compromise_is_a_key_compromise_revocation(world: dict[str, object]) -> None:
    ctx = world["ctx"]
    assert isinstance(ctx, ServiceContext)
    with ctx.database.read() as session:
        row = SealRevocationRepository(session).by_seal(world["old_seal"])  # type: ignore[arg-type]
        seal = session.get(Seal, world["old_seal"])
        assert row is not None and seal is not None
        assert (row.reason, row.invalid_from) == ("key-compromise", T0 + timedelta(hours=12))
        assert seal.status == "revoked" and seal.compromised_at is None
    # The CRL says so too: relying parties without the registry see the same invalidity date.
    from asn1crypto import crl as asn1_crl

    entry = asn1_crl.CertificateList.load(RevocationService(ctx).crl("ecdsa"))["tbs_cert_list"]["revoked_certificates"][0]
    extensions = {e["extn_id"].native: e["extn_value"].native for e in entry["crl_entry_extensions"]}
    assert extensions["crl_reason"] == "key_compromise"
    assert extensions["invalidity_date"] == T0 + timedelta(hours=12)


def test_registry_record_proves_a_b_b_licence_sealed_before_the_compromise(world: dict[str, object]) -> None:
    verdict, codes = _codes(world["ctx"], world["early"])
    assert verdict == "valid", codes
    assert "sealed_before_revocation" in codes and "sealed by the registry" in codes["sealed_before_revocation"]
    verdict, codes = _codes(world["ctx"], world["late"])
    assert verdict == "invalid" and "sealed_after_key_compromise" in codes, codes
    assert (T0 + timedelta(hours=12)).isoformat() in codes["sealed_after_key_compromise"]


def test_a_file_sealed_with_the_stolen_key_outside_the_registry_is_invalid(world: dict[str, object]) -> None:
    verdict, codes = _codes(world["ctx"], world["forged"])
    assert verdict == "invalid" and "seal_revoked" in codes, codes
    assert "nothing proves" in codes["seal_revoked"]


def test_seal_revoke_moves_the_compromise_earlier_never_later(world: dict[str, object]) -> None:
    ctx = world["ctx"]
    assert isinstance(ctx, ServiceContext)
    service = RevocationService(ctx)
    seal_id = world["old_seal"]
    assert isinstance(seal_id, int)
    later = service.revoke_seal(seal_id, reason="key-compromise", invalid_from=T0 + timedelta(days=1, hours=1), principal=OPERATOR)
    assert later.invalid_from == T0 + timedelta(hours=12)  # the earliest report stands
    with pytest.raises(ConflictError):
        service.revoke_seal(seal_id, reason="superseded", invalid_from=None, principal=OPERATOR)
    earlier = service.revoke_seal(seal_id, reason="key-compromise", invalid_from=T0 - timedelta(hours=1), principal=OPERATOR)
    assert earlier.invalid_from == T0 - timedelta(hours=1)
    verdict, codes = _codes(ctx, world["early"])
    assert verdict == "invalid" and "sealed_after_key_compromise" in codes, codes


def test_compromise_times_stored_on_seals_become_revocations(world: dict[str, object]) -> None:
    ctx = world["ctx"]
    assert isinstance(ctx, ServiceContext)
    other = new_seal(ctx, CODE, algorithm=crypto.KeyAlgorithm.ECDSA_P256, name="合同专用章")
    with ctx.database.transaction() as session:
        seal = session.get(Seal, other)
        assert seal is not None
        seal.compromised_at = T0 + timedelta(hours=3)  # as an older version stored it
        certificate_sha256 = crypto.sha256(seal.certificate_der)
        assert base64.b64decode(seal.chain_der[0])
    assert adopt_recorded_compromises(ctx) == 1
    assert adopt_recorded_compromises(ctx) == 0
    revocation = RevocationService(ctx).revocations([certificate_sha256])[certificate_sha256]
    assert (revocation.reason, revocation.invalid_from) == ("key-compromise", T0 + timedelta(hours=3))
