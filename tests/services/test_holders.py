"""Holder sign-in: OIDC-style tokens checked against the in-test identity provider's JWKS."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from certsvc.errors import HolderTokenError
from certsvc.services.context import ServiceContext
from certsvc.services.holders import HolderService
from certsvc.storage.orm import AuditEvent
from certsvc.storage.orm_sharing import UsageRecord
from tests.idp import IdentityProvider, b64url, fresh_resident_id, fresh_uscc


def _refused(ctx: ServiceContext, token: str, **kw: Any) -> str:
    with pytest.raises(HolderTokenError) as info:
        HolderService(ctx).authenticate(token, **kw)
    return info.value.code


def test_rs256_and_es256_tokens_name_the_holder(holder_ctx: ServiceContext, idp: IdentityProvider) -> None:
    uscc, ric = fresh_uscc(), fresh_resident_id()
    now = holder_ctx.clock.now()
    org = HolderService(holder_ctx).authenticate(idp.token(uscc, now=now, name="某公司"))
    person = HolderService(holder_ctx).authenticate(idp.token(ric, "111", now=now, kid="ec-1"))
    assert (org.id_type.value, org.id, org.name) == ("uscc", uscc, "某公司")
    assert (person.id_type.value, person.id) == ("resident_id", ric)  # GB/T 36903 code 111 accepted


def test_each_bad_token_has_its_own_code(holder_ctx: ServiceContext, idp: IdentityProvider) -> None:
    holder = fresh_uscc()
    now = holder_ctx.clock.now()
    good = idp.token(holder, now=now)
    head, body, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=="))
    tampered = b64url(json.dumps({**claims, "holder_id": fresh_uscc()}).encode())
    stranger = IdentityProvider()  # same kid names, other keys: a forger's own IdP
    none_alg = f"{b64url(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{body}.{sig}"
    cases = {
        "holder_token_forged": [f"{head}.{tampered}.{sig}", stranger.token(holder, now=now), none_alg],
        "holder_token_malformed": ["not-a-jwt", f"{head}.{body}"],
        "holder_token_expired": [idp.token(holder, now=now - timedelta(hours=1), lifetime=timedelta(minutes=5))],
        "holder_token_wrong_issuer": [idp.token(holder, now=now, iss="https://evil.example")],
        "holder_token_wrong_audience": [idp.token(holder, now=now, aud="another-service")],
        "holder_token_too_long_lived": [idp.token(holder, now=now, lifetime=timedelta(days=2))],
        "holder_token_missing_claim": [idp.token(holder, now=now, jti=None), idp.token(holder, now=now, holder_id=None)],
        "holder_token_invalid_holder": [idp.token("91320213MA1N2P3Q44", now=now)],  # wrong check character
    }
    for code, tokens in cases.items():
        for token in tokens:
            assert _refused(holder_ctx, token) == code, token
    assert _refused(holder_ctx, "") == "holder_token_missing"


def test_refusals_are_recorded_in_usage_records_and_the_audit_chain(holder_ctx: ServiceContext, idp: IdentityProvider) -> None:
    forged = IdentityProvider().token(fresh_uscc(), now=holder_ctx.clock.now())
    with holder_ctx.database.read() as session:
        before = session.scalar(select(UsageRecord.id).order_by(UsageRecord.id.desc()).limit(1)) or 0
    _refused(holder_ctx, forged, request_id="forged-1")
    with holder_ctx.database.read() as session:
        record = session.scalars(select(UsageRecord).where(UsageRecord.id > before, UsageRecord.request_id == "forged-1")).one()
        event = session.get(AuditEvent, record.audit_event_id)
    assert (record.operation, record.result, record.holder_id) == ("holder_sign_in", "holder_token_forged", None)
    assert event is not None and event.outcome == "refused" and event.details["usage_record_id"] == record.id


def test_a_token_changes_a_consent_once_only(holder_ctx: ServiceContext, idp: IdentityProvider) -> None:
    token = idp.token(fresh_uscc(), now=holder_ctx.clock.now())
    service = HolderService(holder_ctx)
    service.authenticate(token)  # reading may reuse a token
    service.authenticate(token, consume=True)
    service.authenticate(token)
    assert _refused(holder_ctx, token, consume=True) == "holder_token_replayed"


def test_rotated_keys_are_fetched_once_and_cached(holder_ctx: ServiceContext, idp: IdentityProvider) -> None:
    service = HolderService(holder_ctx)
    now = holder_ctx.clock.now()
    service.authenticate(idp.token(fresh_uscc(), now=now))
    hits = idp.jwks_hits
    for _ in range(3):
        service.authenticate(idp.token(fresh_uscc(), now=now))
    assert idp.jwks_hits == hits  # cached
    kid = idp.rotate()
    # An unknown kid refetches (at most every few seconds); force the window open for the test.
    from certsvc.services import holders

    source = holders._source(holder_ctx.settings)
    source._fetched -= 60
    try:
        holder = service.authenticate(idp.token(fresh_uscc(), now=now, kid=kid))
        assert holder.id
        assert idp.jwks_hits == hits + 1
    finally:
        idp.keys.pop()
