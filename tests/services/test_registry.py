"""RegistryService and the access rule: own licences, files by revision, refusals audited."""

from __future__ import annotations

import hashlib

import pytest

from certsvc.errors import NotFoundError
from certsvc.services.access import REFUSED_OUTCOME
from certsvc.services.context import ServiceContext
from certsvc.services.lifecycle import LifecycleService
from certsvc.services.principals import Principal, Role
from certsvc.services.registry import FileVariant, RegistryService, public_status
from tests.services.helpers import audit_events, issue_sample, new_issuer

OPERATOR = Principal(client_id=0, name="registry-operator", role=Role.OPERATOR, department_id=None, department_code=None)


def test_a_department_reads_its_own_licence_and_every_read_is_audited(embedded: ServiceContext) -> None:
    department, issuer = new_issuer(embedded)
    issued = issue_sample(embedded, issuer)
    registry = RegistryService(embedded)
    info = registry.get(issued.identifier, principal=issuer, request_id="svc-read")
    assert (info.identifier, info.department_code, info.status, info.current_version) == (
        issued.identifier,
        department.code,
        "valid",
        1,
    )
    assert [v.sha256 for v in info.versions] == [issued.sha256]
    download = registry.file(issued.identifier, principal=issuer, variant=FileVariant.PRINT)
    pdf = download.read()
    assert download.name == issued.identifier and pdf.startswith(b"%PDF") and pdf != embedded.blobs.get(issued.sha256)
    assert download.size == len(pdf) and download.sha256 == hashlib.sha256(pdf).hexdigest()
    assert b"".join(download.chunks()) == pdf
    actions = [(e.action, e.outcome) for e in audit_events(embedded, target=issued.identifier)]
    assert ("certificate.read", "ok") in actions and ("certificate.download", "ok") in actions


def test_another_departments_licence_is_not_found_and_the_attempt_is_recorded(embedded: ServiceContext) -> None:
    _, owner = new_issuer(embedded)
    _, stranger = new_issuer(embedded)
    issued = issue_sample(embedded, owner)
    registry = RegistryService(embedded)
    with pytest.raises(NotFoundError) as unknown:
        registry.get("1.2.156.3005.2.11100000MB0143028R001.11152500011512829G.2099000001.001.X", principal=stranger)
    for read in (
        lambda: registry.get(issued.identifier, principal=stranger),
        lambda: registry.file(issued.identifier, principal=stranger),
        lambda: LifecycleService(embedded).history(issued.identifier, principal=stranger),
    ):
        with pytest.raises(NotFoundError) as refused:
            read()
        assert refused.value.message == unknown.value.message  # the same answer as for no licence
    refusals = [e for e in audit_events(embedded, target=issued.identifier) if e.outcome == REFUSED_OUTCOME]
    assert [e.action for e in refusals] == ["certificate.read", "certificate.download", "certificate.history"]
    assert all(e.actor.startswith("client:0:") for e in refusals)
    assert RegistryService(embedded).get(issued.identifier, principal=OPERATOR).identifier == issued.identifier


def test_earlier_revisions_stay_readable_and_the_public_status_names_the_current_one(embedded: ServiceContext) -> None:
    _, issuer = new_issuer(embedded)
    issued = issue_sample(embedded, issuer)
    reissued = LifecycleService(embedded, background_webhooks=False).reissue(issued.identifier, reason="原件遗失", principal=issuer)
    registry = RegistryService(embedded)
    first = registry.file(reissued.identifier, principal=issuer, revision=1)
    assert (first.name, first.read()) == (issued.identifier, embedded.blobs.get(issued.sha256))
    assert registry.file(issued.identifier, principal=issuer).sha256 == first.sha256  # an old identifier names its own file
    with pytest.raises(NotFoundError):
        registry.file(issued.identifier, principal=issuer, revision=9)
    old = public_status(embedded, issued.identifier)
    assert (old.status, old.is_current_version, old.current_identifier) == ("superseded", False, reissued.identifier)
    assert public_status(embedded, reissued.identifier).status == "valid"
