"""Every lifecycle transition over the API, allowed and refused, and what /verify says after it."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from certsvc.domain.status import TRANSITIONS, LicenceAction, LicenceStatus, transition
from certsvc.errors import IllegalTransitionError
from certsvc.services.context import ServiceContext
from tests.conftest import auth, make_department, sample_request


@pytest.fixture(scope="module")
def issuer(embedded: ServiceContext) -> str:
    return make_department(embedded)[1]


def _issue(client: TestClient, key: str) -> tuple[str, bytes]:
    body = client.post("/api/v1/certificates", json=sample_request(), headers=auth(key)).json()
    return body["identifier"], client.get(body["links"]["pdf"], headers=auth(key)).content


def _verify(client: TestClient, pdf: bytes) -> dict[str, Any]:
    report: dict[str, Any] = client.post("/api/v1/verify", content=pdf, headers={"content-type": "application/pdf"}).json()
    return report


def _codes(report: dict[str, Any]) -> set[str]:
    return {r["code"] for r in report["reasons"]}


def _act(client: TestClient, key: str, ident: str, action: str, **body: Any) -> Any:
    return client.post(f"/api/v1/certificates/{ident}/{action}", json={"reason": "测试", **body}, headers=auth(key))


def test_domain_table_refuses_everything_not_listed() -> None:
    for state in LicenceStatus:
        for action in LicenceAction:
            if (state, action) in TRANSITIONS:
                assert transition(state, action) is TRANSITIONS[(state, action)]
            else:
                with pytest.raises(IllegalTransitionError):
                    transition(state, action)


def test_suspend_resume_revoke_and_their_effect_on_verify(client: TestClient, issuer: str) -> None:
    ident, pdf = _issue(client, issuer)
    assert _verify(client, pdf)["verdict"] == "valid"

    assert _act(client, issuer, ident, "resume").status_code == 409  # valid cannot be resumed
    suspended = _act(client, issuer, ident, "suspend")
    assert suspended.status_code == 200 and suspended.json()["status"] == "suspended"
    report = _verify(client, pdf)
    assert report["verdict"] == "invalid" and "licence_suspended" in _codes(report)
    assert report["registry"]["status"] == "suspended" and report["registry"]["status_at_signing"] == "valid"
    again = _act(client, issuer, ident, "suspend")
    assert again.status_code == 409 and again.json()["code"] == "illegal_transition"
    assert _act(client, issuer, ident, "amend", holder_name="新名字").status_code == 409
    assert _act(client, issuer, ident, "reissue").status_code == 409

    assert _act(client, issuer, ident, "resume").json()["status"] == "valid"
    assert _verify(client, pdf)["verdict"] == "valid"

    assert _act(client, issuer, ident, "revoke").json()["status"] == "revoked"
    report = _verify(client, pdf)
    assert report["verdict"] == "invalid" and "licence_revoked" in _codes(report)
    for action in ("suspend", "resume", "cancel", "revoke", "reissue"):
        refused = _act(client, issuer, ident, action)
        assert refused.status_code == 409 and refused.json()["code"] == "illegal_transition", action
    history = client.get(f"/api/v1/certificates/{ident}/history", headers=auth(issuer)).json()
    assert [h["action"] for h in history] == ["suspend", "resume", "revoke"]


def test_cancel_is_final(client: TestClient, issuer: str) -> None:
    ident, pdf = _issue(client, issuer)
    assert _act(client, issuer, ident, "cancel").json()["status"] == "cancelled"
    assert "licence_cancelled" in _codes(_verify(client, pdf))
    assert _act(client, issuer, ident, "resume").status_code == 409
    assert _act(client, issuer, ident, "cancel").status_code == 409


def test_a_reason_is_required(client: TestClient, issuer: str) -> None:
    ident, _ = _issue(client, issuer)
    response = client.post(f"/api/v1/certificates/{ident}/suspend", json={}, headers=auth(issuer))
    assert response.status_code == 422


@pytest.mark.slow
def test_amend_makes_a_new_version_and_supersedes_the_old(client: TestClient, issuer: str) -> None:
    ident, old_pdf = _issue(client, issuer)
    amended = _act(client, issuer, ident, "amend", holder_name="锡林浩特市草原味道餐饮有限责任公司")
    assert amended.status_code == 200, amended.text
    new = amended.json()
    assert new["previous_identifier"] == ident and new["version"] == 2
    assert new["identifier"].split(".")[-2] == "002" and ident.split(".")[-2] == "001"
    assert new["identifier"].rsplit(".", 2)[0] == ident.rsplit(".", 2)[0]

    old_report = _verify(client, old_pdf)
    assert "licence_superseded" in _codes(old_report)
    assert old_report["registry"]["current_identifier"] == new["identifier"]
    assert old_report["verdict"] != "valid"

    new_pdf = client.get(f"/api/v1/certificates/{new['identifier']}/pdf", headers=auth(issuer)).content
    new_report = _verify(client, new_pdf)
    assert new_report["verdict"] == "valid", new_report
    assert new_report["registry"]["identifier"] == new["identifier"]
    shown = client.get(f"/api/v1/certificates/{new['identifier']}", headers=auth(issuer)).json()
    assert shown["holder"]["name"] == "锡林浩特市草原味道餐饮有限责任公司"
    # Acting on the superseded identifier is refused with a pointer to the current one.
    stale = _act(client, issuer, ident, "amend", holder_name="x")
    assert stale.status_code == 409 and stale.json()["code"] == "superseded_version"

    reissued = _act(client, issuer, new["identifier"], "reissue")
    assert reissued.status_code == 200, reissued.text
    assert reissued.json()["identifier"].split(".")[-2] == "003" and reissued.json()["version"] == 3
    assert "licence_superseded" in _codes(_verify(client, new_pdf))
    suspended = _act(client, issuer, reissued.json()["identifier"], "suspend").json()
    assert suspended["status"] == "suspended"
    assert "licence_suspended" in _codes(_verify(client, old_pdf))
