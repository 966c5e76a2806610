"""The hub's routes: only on a hub; members deliver with their credential, receiving departments
query, anyone verifies (API and public page); refusals are problem+json with stable codes."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile

from fastapi.testclient import TestClient

from certsvc.api.app import create_app
from certsvc.crypto import api as crypto
from certsvc.domain.status import LicenceAction
from certsvc.services.context import ServiceContext
from certsvc.services.hub import HubService
from certsvc.services.lifecycle import LifecycleService
from certsvc.services.ofd_versions import stored_ofd
from certsvc.services.principals import Role, create_api_client
from certsvc.services.upstream import UpstreamConnector
from certsvc.storage.repositories import CertificateRepository
from tests.conftest import auth
from tests.region import hub, join, member_of, outbox
from tests.services.helpers import issue_sample, new_issuer

__all__ = ["hub", "member_of"]  # fixtures

_PROBLEM = "application/problem+json"


def test_a_member_deployment_serves_no_hub_routes(client: TestClient) -> None:
    answer = client.get("/api/v1/hub/licences", params={"type_code": "x"})
    assert answer.status_code == 404 and answer.headers["content-type"].startswith(_PROBLEM)
    assert client.post("/api/v1/hub/deliveries", content=b"{}").status_code == 404


def test_deliver_query_and_verify_over_http(member_of: ServiceContext, hub: ServiceContext) -> None:
    member = member_of
    registered = HubService(hub).add_member("xilingol")
    join(member, registered)
    department, issuer = new_issuer(member)
    issued = issue_sample(member, issuer)
    LifecycleService(member, background_webhooks=False).change_status(
        issued.identifier, LicenceAction.SUSPEND, reason="整改", principal=issuer
    )
    first, second = (
        UpstreamConnector(member).payload(e.row_id) for e in outbox(member, issued.identifier)
    )
    with hub.database.transaction() as session:
        reader = create_api_client(
            session, name="reader", role=Role.SHARING, department_id=None
        ).api_key
        stranger = create_api_client(
            session, name="stamp", role=Role.TIMESTAMPING, department_id=None
        ).api_key

    with TestClient(create_app(hub)) as http:
        deliveries = "/api/v1/hub/deliveries"
        refused = [
            (http.post(deliveries, content=first), 401, "unauthenticated"),
            (
                http.post(deliveries, content=first, headers=auth(reader)),
                401,
                "unauthenticated",
            ),  # an API key is no member
            (
                http.post(deliveries, content=b"{not json", headers=auth(registered.credential)),
                422,
                "validation_failed",
            ),
            (
                http.post(deliveries, content=second, headers=auth(registered.credential)),
                409,
                "out_of_order",
            ),
        ]
        for answer, status, code in refused:
            assert (answer.status_code, answer.json()["code"]) == (status, code), answer.text
            assert answer.headers["content-type"].startswith(_PROBLEM)
        for body, duplicate in ((first, False), (first, True), (second, False)):
            answer = http.post(deliveries, content=body, headers=auth(registered.credential))
            assert answer.status_code == 200 and answer.json()["is_duplicate"] is duplicate, (
                answer.text
            )

        why = {"use_cause": "办理食品经营许可变更"}
        query = {
            "holder_code": json.loads(first)["metadata"]["holder_code"],
            "member": "xilingol",
            **why,
        }
        assert http.get("/api/v1/hub/licences", params=query).status_code == 401
        assert (
            http.get("/api/v1/hub/licences", params=query, headers=auth(stranger)).status_code
            == 403
        )
        for incomplete in (
            why,
            {"holder_code": query["holder_code"]},
        ):  # no criterion; no use cause
            missing = http.get("/api/v1/hub/licences", params=incomplete, headers=auth(reader))
            assert (missing.status_code, missing.json()["code"]) == (422, "validation_failed")
        found = http.get("/api/v1/hub/licences", params=query, headers=auth(reader)).json()
        assert issued.identifier in [f["identifier"] for f in found]
        one = http.get(
            f"/api/v1/hub/licences/{issued.identifier}", params=why, headers=auth(reader)
        ).json()
        assert (one["status"], one["member"], one["issuer_code"]) == (
            "suspended",
            "xilingol",
            department.code,
        )
        answer = http.get(
            f"/api/v1/hub/licences/{issued.identifier}/pdf", params=why, headers=auth(reader)
        )
        file = answer.content
        assert file == member.blobs.get(issued.sha256)  # the member's file with its original seal
        assert answer.headers["content-length"] == str(len(file))
        assert answer.headers["content-disposition"] == f"attachment; filename*=UTF-8''{issued.identifier}.pdf"

        verified = http.post(
            "/api/v1/hub/verify", content=file, headers={"Content-Type": "application/pdf"}
        ).json()
        assert verified["member"] == "xilingol"
        assert verified["report"]["registry"]["department_code"] == department.code
        assert verified["report"]["registry"]["status"] == "suspended"
        page = http.get(f"/hub/v/{issued.identifier}")
        assert (
            page.status_code == 200
            and 'id="member">xilingol<' in page.text
            and "已暂扣" in page.text
        )
        assert http.get("/hub/v/1.2.156.3005.2.UNKNOWN").status_code == 404
        checked = http.post(
            "/hub/v/check", files={"file": ("licence.pdf", file, "application/pdf")}
        )
        assert checked.status_code == 200 and 'id="member">xilingol<' in checked.text
        assert (
            http.post(
                "/hub/v/check", files={"file": ("x.pdf", b"not a pdf", "application/pdf")}
            ).status_code
            == 422
        )


def _with_changed_page(ofd: bytes) -> bytes:
    """The same OFD package with one drawn character changed on its first page."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(ofd)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for item in source.infolist():
            data = source.read(item)
            if item.filename.endswith("Page_0/Content.xml"):
                data = data.replace("锡".encode(), "西".encode(), 1)
            target.writestr(item, data)
    return out.getvalue()


def test_an_sm2_licence_arrives_with_its_ofd_which_the_hub_keeps_and_verifies(
    member_of: ServiceContext, hub: ServiceContext
) -> None:
    member = member_of
    registered = HubService(hub).add_member("xilingol-ofd")
    join(member, registered)
    department, issuer = new_issuer(member, algorithm=crypto.KeyAlgorithm.SM2)
    issued = issue_sample(member, issuer)
    body = UpstreamConnector(member).payload(outbox(member, issued.identifier)[0].row_id)
    delivered = json.loads(body)
    assert delivered["ofd"] is not None and delivered["ofd"]["chain"]  # the seal CA travels along
    with member.database.read() as session:
        cert = CertificateRepository(session).by_identifier(issued.identifier)
        assert cert is not None
        kept_ofd = stored_ofd(session, cert.id, 1)
    assert kept_ofd is not None
    member_ofd = member.blobs.get(kept_ofd.sha256)

    # An OFD whose bytes were changed is refused whole, the PDF with it: nothing is kept.
    tampered_ofd = _with_changed_page(member_ofd)
    tampered = json.loads(body)
    tampered["ofd"]["content_base64"] = base64.b64encode(tampered_ofd).decode()
    tampered["ofd"]["sha256"] = hashlib.sha256(tampered_ofd).hexdigest()
    with hub.database.transaction() as session:
        reader = create_api_client(
            session, name="reader", role=Role.SHARING, department_id=None
        ).api_key
    why = {"use_cause": "办理建设工程竣工验收备案"}
    with TestClient(create_app(hub)) as http:
        deliveries = "/api/v1/hub/deliveries"
        refused = http.post(
            deliveries, content=json.dumps(tampered), headers=auth(registered.credential)
        )
        assert refused.status_code in (400, 422) and refused.headers["content-type"].startswith(
            _PROBLEM
        ), refused.text
        assert (
            http.get(
                f"/api/v1/hub/licences/{issued.identifier}", params=why, headers=auth(reader)
            ).status_code
            == 404
        )

        accepted = http.post(deliveries, content=body, headers=auth(registered.credential))
        assert accepted.status_code == 200, accepted.text
        ofd = http.get(
            f"/api/v1/hub/licences/{issued.identifier}/ofd", params=why, headers=auth(reader)
        )
        assert ofd.status_code == 200 and ofd.headers["content-type"] == "application/ofd"
        assert ofd.content == member_ofd  # byte for byte, with the member's original seal
        assert ofd.headers["content-length"] == str(len(member_ofd))

        verified = http.post(
            "/api/v1/hub/verify", content=ofd.content, headers={"Content-Type": "application/ofd"}
        )
        assert verified.status_code == 200, verified.text
        report = verified.json()["report"]
        assert verified.json()["member"] == "xilingol-ofd"
        assert report["verdict"] == "valid", report
        assert report["registry"]["department_code"] == department.code
        assert "seal_data_valid" in {r["code"] for r in report["reasons"]}


def test_a_licence_sealed_without_sm2_has_no_ofd_at_the_hub(
    member_of: ServiceContext, hub: ServiceContext
) -> None:
    registered = HubService(hub).add_member("xilingol-pdf")
    join(member_of, registered)
    _, issuer = new_issuer(member_of)  # ECDSA: no OFD (docs/ofd.md)
    issued = issue_sample(member_of, issuer)
    body = UpstreamConnector(member_of).payload(outbox(member_of, issued.identifier)[0].row_id)
    assert json.loads(body)["ofd"] is None
    with hub.database.transaction() as session:
        reader = create_api_client(
            session, name="reader", role=Role.SHARING, department_id=None
        ).api_key
    with TestClient(create_app(hub)) as http:
        assert (
            http.post(
                "/api/v1/hub/deliveries", content=body, headers=auth(registered.credential)
            ).status_code
            == 200
        )
        missing = http.get(
            f"/api/v1/hub/licences/{issued.identifier}/ofd",
            params={"use_cause": "核验"},
            headers=auth(reader),
        )
        assert (missing.status_code, missing.json()["code"]) == (404, "no_ofd")
