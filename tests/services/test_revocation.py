"""Revoking a seal: the CRL and OCSP answers say so, and verification uses the time-stamp —
licences sealed before the revocation took effect stay valid, later ones are invalid."""

from __future__ import annotations

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
from certsvc.errors import ConflictError, ValidationFailedError
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.demo_departments import DEMO_DEPARTMENTS
from certsvc.services.embedded_init import init_embedded
from certsvc.services.issuance import IssuanceService
from certsvc.services.principals import local_operator
from certsvc.services.registry import RegistryService
from certsvc.services.requests import parse_issue_request
from certsvc.services.revocation import RevocationService
from certsvc.services.seal_admin import SealAdminService
from certsvc.services.verification import VerificationService
from certsvc.storage.repositories import SealRepository
from tests.conftest import sample_request

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServiceContext, FixedClock]]:
    clock = FixedClock(T0)
    ctx = build_context(load_settings(home=tmp_path_factory.mktemp("revocation"), public_rate_limit_per_minute=0), clock=clock)
    init_embedded(ctx)
    yield ctx, clock
    ctx.database.dispose()


def _issue(ctx: ServiceContext, code: str) -> bytes:
    from certsvc.services.principals import Principal, Role
    from certsvc.services.provisioning import department_by_code

    with ctx.database.read() as session:
        department = department_by_code(session, code)
        principal = Principal(client_id=0, name="test", role=Role.ISSUER, department_id=department.id, department_code=code)
    issued = IssuanceService(ctx).issue(parse_issue_request({**sample_request(), "template": "food-business-licence"}), principal=principal)
    return RegistryService(ctx).file(issued.identifier, principal=principal).read()


def _codes(ctx: ServiceContext, pdf: bytes) -> tuple[str, set[str]]:
    report = VerificationService(ctx).verify_pdf(pdf)
    return report.verdict.value, {r.code for r in report.reasons}


@pytest.fixture(scope="module")
def revoked(deployment: tuple[ServiceContext, FixedClock]) -> dict[str, object]:
    """ECDSA department: licence A sealed at T0, licence B at T0 + 10 days; at T0 + 12 days the
    seal is revoked for a key compromise believed to date from T0 + 5 days."""
    ctx, clock = deployment
    code = DEMO_DEPARTMENTS[0].code
    before = _issue(ctx, code)
    clock.advance(timedelta(days=10))
    after = _issue(ctx, code)
    clock.advance(timedelta(days=2))
    with ctx.database.read() as session:
        from certsvc.services.provisioning import department_by_code

        seal = SealRepository(session).active_for(department_by_code(session, code).id, clock.now())
        assert seal is not None
        seal_id, seal_der = seal.id, seal.certificate_der
    assert _codes(ctx, after) == ("valid", {"signature_valid", "licence_valid"})
    info = RevocationService(ctx).revoke_seal(
        seal_id, reason="key-compromise", invalid_from=T0 + timedelta(days=5), principal=local_operator()
    )
    return {"before": before, "after": after, "seal_id": seal_id, "seal_der": seal_der, "info": info}


def test_sealed_before_the_compromise_stays_valid(deployment: tuple[ServiceContext, FixedClock], revoked: dict[str, object]) -> None:
    ctx, _ = deployment
    verdict, codes = _codes(ctx, revoked["before"])  # type: ignore[arg-type]
    assert verdict == "valid", codes
    assert "sealed_before_revocation" in codes and "seal_revoked" not in codes


def test_sealed_after_the_compromise_is_invalid(deployment: tuple[ServiceContext, FixedClock], revoked: dict[str, object]) -> None:
    ctx, _ = deployment
    verdict, codes = _codes(ctx, revoked["after"])  # type: ignore[arg-type]
    assert verdict == "invalid"
    assert "sealed_after_key_compromise" in codes and "seal_revoked" not in codes


def test_a_revoked_seal_seals_nothing_more(deployment: tuple[ServiceContext, FixedClock], revoked: dict[str, object]) -> None:
    ctx, clock = deployment
    with ctx.database.read() as session:
        from certsvc.services.provisioning import department_by_code

        assert SealRepository(session).active_for(department_by_code(session, DEMO_DEPARTMENTS[0].code).id, clock.now()) is None


def test_revocation_refusals(deployment: tuple[ServiceContext, FixedClock], revoked: dict[str, object]) -> None:
    ctx, clock = deployment
    service = RevocationService(ctx)
    with pytest.raises(ConflictError):
        service.revoke_seal(revoked["seal_id"], reason="superseded", invalid_from=None, principal=local_operator())  # type: ignore[arg-type]
    with pytest.raises(ValidationFailedError):
        service.revoke_seal(1, reason="bored", invalid_from=None, principal=local_operator())
    with pytest.raises(ValidationFailedError):
        service.revoke_seal(1, reason="superseded", invalid_from=clock.now() + timedelta(hours=1), principal=local_operator())


def _pem(der: bytes, path: Path) -> Path:
    path.with_suffix(".der").write_bytes(der)
    subprocess.run(["openssl", "x509", "-inform", "DER", "-in", path.with_suffix(".der"), "-out", path], check=True)
    return path


@needs_openssl
def test_crl_and_ocsp_say_revoked(deployment: tuple[ServiceContext, FixedClock], revoked: dict[str, object], tmp_path: Path) -> None:
    ctx, _ = deployment
    seal = _pem(revoked["seal_der"], tmp_path / "seal.pem")  # type: ignore[arg-type]
    ca = _pem((ctx.pki_dir / "dev-seal-ca-ecdsa.der").read_bytes(), tmp_path / "ca.pem")
    root = _pem((ctx.trust_roots_dir / "dev-root-ecdsa.der").read_bytes(), tmp_path / "root.pem")
    text = subprocess.run(["openssl", "x509", "-in", seal, "-noout", "-text"], capture_output=True, text=True).stdout
    assert f"{ctx.settings.public_url}/pki/ecdsa/crl" in text and f"OCSP - URI:{ctx.settings.public_url}/pki/ecdsa/ocsp" in text

    with TestClient(create_app(ctx)) as client:
        crl = client.get("/pki/ecdsa/crl")
        assert crl.status_code == 200 and crl.headers["content-type"] == "application/pkix-crl"
        (tmp_path / "crl.der").write_bytes(crl.content)
        subprocess.run(["openssl", "crl", "-inform", "DER", "-in", tmp_path / "crl.der", "-out", tmp_path / "crl.pem"], check=True)
        listing = subprocess.run(["openssl", "crl", "-in", tmp_path / "crl.pem", "-noout", "-text"], capture_output=True, text=True).stdout
        assert "Key Compromise" in listing and "Invalidity Date" in listing
        chain = tmp_path / "chain.pem"
        chain.write_text(root.read_text() + ca.read_text())
        checked = subprocess.run(
            ["openssl", "verify", "-crl_check", "-CAfile", chain, "-CRLfile", tmp_path / "crl.pem", "-attime", str(int(T0.timestamp()) + 86400 * 13), seal],
            capture_output=True, text=True,
        )  # fmt: skip
        assert checked.returncode != 0 and "certificate revoked" in checked.stdout + checked.stderr

        request = tmp_path / "ocsp.req"
        subprocess.run(["openssl", "ocsp", "-issuer", ca, "-cert", seal, "-reqout", request, "-no_nonce"], check=True, capture_output=True)
        answer = client.post("/pki/ecdsa/ocsp", content=request.read_bytes(), headers={"Content-Type": "application/ocsp-request"})
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/ocsp-response"
        (tmp_path / "ocsp.resp").write_bytes(answer.content)
        status = subprocess.run(
            ["openssl", "ocsp", "-respin", tmp_path / "ocsp.resp", "-issuer", ca, "-cert", seal, "-CAfile", chain,
             "-attime", str(int(T0.timestamp()) + 86400 * 12 + 60)],
            capture_output=True, text=True,
        )  # fmt: skip
        assert "Response verify OK" in status.stdout + status.stderr, status.stdout + status.stderr
        # openssl compares the answer's this/nextUpdate with the real clock, not -attime: a
        # "Status times invalid" warning is expected for an answer made on the moved clock.
        assert "revoked" in status.stdout and "Reason: keyCompromise" in status.stdout
        assert "Revocation Time: Mar 14 01:00:00 2026 GMT" in status.stdout

        garbage = client.post("/pki/ecdsa/ocsp", content=b"\x30\x00", headers={"Content-Type": "application/ocsp-request"})
        assert garbage.status_code == 200 and garbage.content == bytes.fromhex("30030a0101")  # malformedRequest
        assert client.post("/pki/nope/ocsp", content=b"x", headers={"Content-Type": "application/ocsp-request"}).status_code == 404
        assert client.get("/pki/nope/crl").status_code == 404
        sm2_crl = client.get("/pki/sm2/crl")
        assert sm2_crl.status_code == 200 and sm2_crl.content.startswith(b"\x30")


def test_operator_api_revokes_an_sm2_seal(deployment: tuple[ServiceContext, FixedClock], revoked: dict[str, object]) -> None:
    """The API equivalent, on the SM2 department: the SM2 CRL lists it; an earlier licence stays valid."""
    from asn1crypto import crl as asn1_crl

    from certsvc.services.principals import Role, create_api_client
    from certsvc.services.provisioning import department_by_code

    ctx, clock = deployment
    code = DEMO_DEPARTMENTS[1].code
    earlier = _issue(ctx, code)
    clock.advance(timedelta(hours=1))
    with ctx.database.transaction() as session:
        operator = create_api_client(session, name="revoker", role=Role.OPERATOR, department_id=None).api_key
        seal = SealRepository(session).active_for(department_by_code(session, code).id, clock.now())
        assert seal is not None
        seal_id = seal.id
    with TestClient(create_app(ctx)) as client:
        headers = {"Authorization": f"Bearer {operator}"}
        bad = client.post(f"/api/v1/admin/seals/{seal_id}/revoke", json={"reason": "bored"}, headers=headers)
        assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
        done = client.post(f"/api/v1/admin/seals/{seal_id}/revoke", json={"reason": "superseded"}, headers=headers)
        assert done.status_code == 200, done.text
        assert done.json()["invalid_from"] == done.json()["revoked_at"]
        crl = asn1_crl.CertificateList.load(client.get("/pki/sm2/crl").content)
    assert crl["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    listed = {format(r["user_certificate"].native, "x") for r in crl["tbs_cert_list"]["revoked_certificates"]}
    assert done.json()["serial_hex"] in listed
    verdict, codes = _codes(ctx, earlier)
    assert verdict == "valid" and "sealed_before_revocation" in codes


def test_a_new_seal_can_re_sign_what_the_revoked_one_sealed(
    deployment: tuple[ServiceContext, FixedClock], revoked: dict[str, object]
) -> None:
    """The key-compromise policy's remedy: a batch re-sign from the revoked seal to a new one
    finds every licence the revoked seal sealed (dry run; tests/services/test_batch_resign.py
    runs re-sign jobs)."""
    from certsvc.services.batch import BatchService

    ctx, _ = deployment
    code = DEMO_DEPARTMENTS[0].code
    new = SealAdminService(ctx).add_seal(code, name="行政许可专用章", algorithm="ecdsa-p256", validity_days=365, principal=local_operator())
    plan = BatchService(ctx).check_resign(to_seal_id=new.id, from_seal_id=revoked["seal_id"], principal=local_operator())  # type: ignore[arg-type]
    assert plan.matched == 2
