"""Schemathesis over the whole OpenAPI document: no server errors, answers that match the document.

Driven as a library (each operation's Hypothesis strategy run here) rather than through its
pytest plugin, which does not work with this pytest; the checks are schemathesis' own.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import checks
from schemathesis.generation.hypothesis.builder import add_examples

from certsvc.api.app import create_app
from certsvc.config import load_settings
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.demo_departments import DEMO_DEPARTMENTS
from certsvc.services.embedded_init import init_embedded
from certsvc.services.principals import Role, create_api_client
from certsvc.storage.repositories import DepartmentRepository
from tests.conftest import PUBLIC_URL
from tests.idp import fresh_uscc

pytestmark = pytest.mark.slow

# `make test` replays the same few cases every run (derandomized: a red CI names a defect the
# change brought, not one the dice found); `make fuzz` sets CERTSVC_FUZZ_EXAMPLES and explores.
_FUZZ_EXAMPLES = int(os.environ.get("CERTSVC_FUZZ_EXAMPLES", "0"))
_EXAMPLES = _FUZZ_EXAMPLES or 3
# 0 server errors, and every answer as documented: its status, content type, headers and body.
# (positive_data_acceptance is left out: a body can match the JSON schema and still be refused
# by a template's own field rules, which the document cannot express.)
_CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_headers_conformance,
    checks.response_schema_conformance,
]


_HOLDER = fresh_uscc()
# RFC 3161 requests (POST /api/v1/tsa) are DER bytes: sent as generated, like application/octet-stream.
schemathesis.serializer.alias("application/timestamp-query", "application/octet-stream")
schemathesis.serializer.alias("application/ocsp-request", "application/octet-stream")


@pytest.fixture(scope="module")
def contract_ctx(tmp_path_factory: pytest.TempPathFactory, idp: Any) -> Iterator[ServiceContext]:
    """A deployment of its own: the run revokes clients, retires seals and suspends licences by
    whatever ids it generates, which must not reach the session's shared deployment."""
    settings = load_settings(
        home=tmp_path_factory.mktemp("contract-home"),
        public_url=PUBLIC_URL,
        public_rate_limit_per_minute=0,
        oidc_issuer=idp.issuer,
        oidc_audience=idp.audience,
        oidc_jwks_url=idp.jwks_url,
    )
    ctx = build_context(settings)
    init_embedded(ctx)
    yield ctx
    ctx.database.dispose()


def _fresh_keys(ctx: ServiceContext) -> dict[str, str]:
    """New keys for one operation's run: an earlier operation may have revoked any older one."""
    with ctx.database.transaction() as session:
        department = DepartmentRepository(session).by_code(DEMO_DEPARTMENTS[0].code)
        assert department is not None
        return {
            role.value: create_api_client(
                session, name=f"contract-{role.value}", role=role, department_id=None if role is Role.OPERATOR else department.id
            ).api_key
            for role in (Role.ISSUER, Role.OPERATOR, Role.SHARING)
        }


def _headers(path: str, keys: dict[str, str], idp: Any, ctx: ServiceContext) -> dict[str, str]:
    if path.startswith(("/api/v1/admin", "/api/v1/batches")):
        return {"Authorization": f"Bearer {keys['operator']}"}
    if path.startswith("/api/v1/sharing"):
        return {"Authorization": f"Bearer {keys['sharing']}"}
    if path.startswith("/api/v1/holder"):
        return {"Authorization": f"Bearer {idp.token(_HOLDER, now=ctx.clock.now())}"}
    return {"Authorization": f"Bearer {keys['issuer']}"}


def _checker(operation: Any, headers_for: Any, answers: list[tuple[str, int]]) -> Any:
    # No shrinking: a failure is reported as found, which keeps the run bounded.
    @settings(
        max_examples=_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=not _FUZZ_EXAMPLES,
        phases=[Phase.explicit, Phase.generate],
    )
    @given(case=operation.as_strategy())
    def run(case: Any) -> None:
        # 60 s, not schemathesis' 10: a first issue loads keys and fonts, slow on a busy CI machine.
        response = case.call_and_validate(headers=headers_for(operation.path), checks=_CHECKS, timeout=60)
        answers.append((operation.label, response.status_code))

    # The document's own examples first (Phase.explicit), as schemathesis' runner does.
    return add_examples(run, operation, fill_missing=True)


def test_every_operation_matches_the_document(contract_ctx: ServiceContext, idp: Any) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(contract_ctx))
    failures: dict[str, str] = {}
    answers: list[tuple[str, int]] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        keys = _fresh_keys(contract_ctx)
        try:
            _checker(operation, lambda path, keys=keys: _headers(path, keys, idp, contract_ctx), answers)()
        except (Exception, BaseExceptionGroup) as exc:  # schemathesis reports a group
            failures[operation.label] = str(exc)[:1500]
    assert failures == {}, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    succeeded = {label for label, status in answers if 200 <= status < 300}
    # The credentials work (not only refusals were checked), and the documented issue example
    # is a template-valid request.
    assert "POST /api/v1/certificates" in succeeded
    assert {"GET /api/v1/holder/certificates", "GET /api/v1/admin/departments", "GET /api/v1/sharing/usage"} <= succeeded
    assert {label for label, _ in answers} == {operation.label for operation in operations}
