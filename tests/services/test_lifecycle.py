"""LifecycleService: state changes, new versions (amend, reissue), history, refusals."""

from __future__ import annotations

import pytest

from certsvc.domain.identifiers import LicenceIdentifier
from certsvc.domain.status import LicenceAction
from certsvc.errors import ConflictError, IllegalTransitionError, ValidationFailedError
from certsvc.services.context import ServiceContext
from certsvc.services.lifecycle import LifecycleService, parse_amend_request
from certsvc.services.registry import RegistryService
from tests.services.helpers import issue_sample, new_issuer


def test_suspend_resume_and_revoke_follow_the_state_machine(embedded: ServiceContext) -> None:
    _, issuer = new_issuer(embedded)
    issued = issue_sample(embedded, issuer)
    service = LifecycleService(embedded, background_webhooks=False)
    suspended = service.change_status(issued.identifier, LicenceAction.SUSPEND, reason="经营场所核查", principal=issuer)
    assert (suspended.status, suspended.version, suspended.sha256) == ("suspended", 1, issued.sha256)
    with pytest.raises(IllegalTransitionError):
        service.amend(issued.identifier, parse_amend_request({"reason": "x", "holder_name": "新名称有限公司"}), principal=issuer)
    assert service.change_status(issued.identifier, LicenceAction.RESUME, reason="核查完毕", principal=issuer).status == "valid"
    assert service.change_status(issued.identifier, LicenceAction.REVOKE, reason="依法撤销", principal=issuer).status == "revoked"
    with pytest.raises(IllegalTransitionError):
        service.change_status(issued.identifier, LicenceAction.RESUME, reason="x", principal=issuer)
    with pytest.raises(ValidationFailedError):
        service.change_status(issued.identifier, LicenceAction.SUSPEND, reason="   ", principal=issuer)
    history = service.history(issued.identifier, principal=issuer)
    assert [(h.action, h.from_status, h.to_status) for h in history] == [
        ("suspend", "valid", "suspended"),
        ("resume", "suspended", "valid"),
        ("revoke", "valid", "revoked"),
    ]


def test_amend_makes_the_next_version_with_the_changes_and_supersedes_the_old_identifier(embedded: ServiceContext) -> None:
    _, issuer = new_issuer(embedded)
    issued = issue_sample(embedded, issuer)
    service = LifecycleService(embedded, background_webhooks=False)
    amendment = parse_amend_request(
        {"reason": "经营场所变更", "fields": {"business_premises": "内蒙古锡林浩特市额尔敦路18号"}, "valid_until": "2030-12-31"}
    )
    amended = service.amend(issued.identifier, amendment, principal=issuer)
    assert LicenceIdentifier.parse(amended.identifier).version == 2 and amended.previous_identifier == issued.identifier
    info = RegistryService(embedded).get(amended.identifier, principal=issuer)
    assert info.fields["business_premises"] == "内蒙古锡林浩特市额尔敦路18号"
    assert info.fields["licence_number"] and info.valid_until.isoformat() == "2030-12-31"
    assert [v.identifier for v in info.versions] == [issued.identifier, amended.identifier]
    with pytest.raises(ConflictError) as superseded:
        service.reissue(issued.identifier, reason="遗失", principal=issuer)
    assert superseded.value.code == "superseded_version"
    with pytest.raises(ValidationFailedError):
        service.amend(amended.identifier, parse_amend_request({"reason": "x", "fields": {"no_such_field": "1"}}), principal=issuer)
