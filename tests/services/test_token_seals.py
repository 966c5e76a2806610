"""Seals whose keys live in a PKCS#11 token (SoftHSM2): issue, verify, QR, re-sign, rotate, usage."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from certsvc.api.app import create_app
from certsvc.crypto import api as crypto
from certsvc.services.api_clients import ApiClientService
from certsvc.services.batch import BatchService
from certsvc.services.context import ServiceContext
from certsvc.services.principals import local_operator
from certsvc.services.provisioning import TokenKeyName
from certsvc.services.seal_admin import SealAdminService
from certsvc.services.seal_keys import SealKeyService
from certsvc.storage.orm import AuditEvent, Certificate, Seal
from tests.conftest import auth, sample_request
from tests.hsm import SoftHsm
from tests.jobs.batch_helpers import OPERATOR, new_department
from tests.services.test_batch_resign import _issue_samples
from tests.services.test_qr import scan_pdf

pytestmark = pytest.mark.slow


def _token_seal(ctx: ServiceContext, softhsm: SoftHsm, code: str, *, token_label: str | None = None) -> int:
    """A token-key seal for ``code``, made the department's default."""
    admin = SealAdminService(ctx)
    label = f"seal-{code[-6:].lower()}-{secrets.token_hex(3)}"
    seal = admin.add_seal(
        code, name="行政许可专用章", algorithm="ecdsa-p256", validity_days=365, principal=local_operator(),
        token_key=TokenKeyName(token_label or softhsm.token_label, label),
    )  # fmt: skip
    assert seal.key_store == "pkcs11"
    admin.set_default_seal(seal.id, principal=local_operator())
    return seal.id


@pytest.fixture(scope="module")
def token_client(hsm_ctx: ServiceContext) -> Iterator[TestClient]:
    with TestClient(create_app(hsm_ctx), raise_server_exceptions=False) as client:
        yield client


def _issuer(ctx: ServiceContext, code: str) -> str:
    admin = ApiClientService(ctx)
    return admin.add_client(name=f"issuer-{code}-{secrets.token_hex(2)}", role="issuer", department_code=code,
                            expires_at=None, principal=local_operator()).api_key  # fmt: skip


def test_a_token_seal_issues_a_licence_whose_pdf_and_qr_code_verify(
    hsm_ctx: ServiceContext, softhsm: SoftHsm, token_client: TestClient, tmp_path: Path
) -> None:
    department = new_department(hsm_ctx)
    seal_id = _token_seal(hsm_ctx, softhsm, department.code)
    key = _issuer(hsm_ctx, department.code)
    created = token_client.post("/api/v1/certificates", json=sample_request(), headers=auth(key))
    assert created.status_code == 201, created.text
    pdf = token_client.get(created.json()["links"]["pdf"], headers=auth(key)).content
    report = token_client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"}).json()
    assert report["verdict"] == "valid", report
    text, _ = scan_pdf(pdf, tmp_path)
    qr = token_client.post("/api/v1/verify/qr", json={"text": text}).json()
    assert qr["verdict"] == "valid", qr
    uses = SealKeyService(hsm_ctx).usage(seal_id, principal=OPERATOR)
    assert [(u.action, u.licence) for u in uses] == [("certificate.issue", created.json()["identifier"])]


def test_an_unavailable_token_is_key_unavailable_and_nothing_is_written(
    hsm_ctx: ServiceContext, softhsm: SoftHsm, token_client: TestClient
) -> None:
    spare = softhsm.spare_label
    department = new_department(hsm_ctx)
    _token_seal(hsm_ctx, softhsm, department.code, token_label=spare)
    key = _issuer(hsm_ctx, department.code)
    # The token is taken away (an HSM partition deleted, a smart card pulled) and sessions lost.
    softhsm.util("--delete-token", "--token", spare)
    hsm_ctx.token_keys()._sessions(spare).discard_all()
    blobs_before = sum(1 for _ in hsm_ctx.settings.blob_dir.rglob("*") if _.is_file())
    with hsm_ctx.database.read() as session:
        events_before = session.scalar(select(func.count()).select_from(AuditEvent))
    response = token_client.post("/api/v1/certificates", json=sample_request(), headers=auth(key))
    assert response.status_code == 503, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "key_unavailable"
    assert f"token {spare!r} is not present" in response.json()["title"]
    with hsm_ctx.database.read() as session:
        assert session.scalar(select(func.count()).select_from(Certificate).where(Certificate.department_id == department.id)) == 0
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == events_before
    assert sum(1 for _ in hsm_ctx.settings.blob_dir.rglob("*") if _.is_file()) == blobs_before


def test_resign_onto_a_token_seal_with_two_workers_then_rotate_within_the_token(
    hsm_ctx: ServiceContext, softhsm: SoftHsm
) -> None:
    issued = _issue_samples(hsm_ctx, new_department(hsm_ctx), limit=3)
    token_seal = _token_seal(hsm_ctx, softhsm, issued.department.code)
    service = BatchService(hsm_ctx)
    job = service.create_resign_job(to_seal_id=token_seal, principal=OPERATOR, reason="key moved into the HSM")
    assert service.run(job.job_id, principal=OPERATOR, workers=2).done == 3
    resigned = SealKeyService(hsm_ctx).usage(token_seal, principal=OPERATOR)
    assert sorted(u.action for u in resigned) == ["certificate.resign"] * 3

    rotation = SealKeyService(hsm_ctx).rotate(
        token_seal, principal=OPERATOR, resign=True,
        token_key=TokenKeyName(softhsm.token_label, f"rotated-{secrets.token_hex(3)}"),
    )  # fmt: skip
    assert rotation.is_default_moved and rotation.resign_job_id is not None
    assert service.run(rotation.resign_job_id, principal=OPERATOR, workers=0).done == 3
    with hsm_ctx.database.read() as session:
        old = session.get(Seal, token_seal)
        new = session.get(Seal, rotation.new_seal_id)
        assert old is not None and new is not None
        assert old.status == "retired" and new.is_default and crypto.is_token_key_ref(new.key_ref)
        actions = list(session.scalars(
            select(AuditEvent.action).where(AuditEvent.target == f"department:{issued.department.code}").order_by(AuditEvent.id)
        ))  # fmt: skip
    assert actions[-3:] == ["seal.add", "seal.rotate", "seal.rotate.resign"]
    assert len(SealKeyService(hsm_ctx).usage(rotation.new_seal_id, principal=OPERATOR)) == 3
    # The old key's uses stay listed: rotation changes nothing that was sealed.
    assert len(SealKeyService(hsm_ctx).usage(token_seal, principal=OPERATOR)) == 3


def test_sm2_stays_in_software(hsm_ctx: ServiceContext, softhsm: SoftHsm) -> None:
    from certsvc.errors import BadRequestError

    department = new_department(hsm_ctx)
    with pytest.raises(BadRequestError, match="no standard SM2 mechanism") as refused:
        SealAdminService(hsm_ctx).add_seal(
            department.code, name="行政许可专用章", algorithm="sm2", validity_days=365, principal=local_operator(),
            token_key=TokenKeyName(softhsm.token_label, "sm2-seal"),
        )  # fmt: skip
    assert refused.value.code == "unsupported_key_store"


