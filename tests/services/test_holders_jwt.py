"""The JWT verifier in certsvc/crypto/jwt_tokens.py, against tokens signed by tests/idp.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from certsvc.crypto.api import JwtFailure, TokenRejectedError, parse_jwks, verify_jwt
from certsvc.errors import ConfigurationError
from tests.idp import IdentityProvider, b64url

NOW = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def idp() -> IdentityProvider:
    return IdentityProvider()


def _verify(idp: IdentityProvider, token: str) -> dict[str, object]:
    verified = verify_jwt(token, keys=parse_jwks(idp.jwks()), issuer=idp.issuer, audience=idp.audience, now=NOW)
    return dict(verified.claims)


def _failure(idp: IdentityProvider, token: str, **kw: object) -> JwtFailure:
    with pytest.raises(TokenRejectedError) as info:
        verify_jwt(token, keys=parse_jwks(idp.jwks()), issuer=idp.issuer, audience=idp.audience, now=NOW, **kw)  # type: ignore[arg-type]
    return info.value.failure


def _resign(idp: IdentityProvider, header: dict[str, object], payload: bytes, kid: str = "rsa-1") -> str:
    key = next(k for k in idp.keys if k.kid == kid)
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(payload)}"
    return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"


def test_both_algorithms_verify(idp: IdentityProvider) -> None:
    assert _verify(idp, idp.token("x", now=NOW))["holder_id"] == "x"
    assert _verify(idp, idp.token("y", now=NOW, kid="ec-1"))["holder_id"] == "y"
    assert _verify(idp, idp.token("z", now=NOW, aud=["other", "certsvc"]))["holder_id"] == "z"


def test_algorithm_is_bound_to_the_key_type(idp: IdentityProvider) -> None:
    # An ES256 header naming the RSA key (or the reverse) never verifies: no algorithm confusion.
    token = idp.token("x", now=NOW, header={"kid": "ec-1", "alg": "RS256"})
    assert _failure(idp, token) is JwtFailure.UNKNOWN_KEY
    assert _failure(idp, idp.token("x", now=NOW, header={"alg": "HS256"})) is JwtFailure.UNSUPPORTED_ALGORITHM
    assert _failure(idp, idp.token("x", now=NOW), algorithms=("ES256",)) is JwtFailure.UNSUPPORTED_ALGORITHM


def test_header_tricks_are_refused(idp: IdentityProvider) -> None:
    assert _failure(idp, idp.token("x", now=NOW, header={"crit": ["exp"]})) is JwtFailure.MALFORMED
    # Without a kid, two RSA keys would be ambiguous; the set here has one, so a missing kid is fine.
    payload = json.dumps({"iss": idp.issuer, "aud": "certsvc", "iat": int(NOW.timestamp()),
                          "exp": int(NOW.timestamp()) + 60, "jti": "j"}).encode()
    assert _verify(idp, _resign(idp, {"alg": "RS256"}, payload))["jti"] == "j"
    # Duplicate member names are refused rather than resolved one way or the other.
    duplicated = payload[:-1] + b', "iss": "https://evil.example"}'
    assert _failure(idp, _resign(idp, {"alg": "RS256", "kid": "rsa-1"}, duplicated)) is JwtFailure.MALFORMED
    assert _failure(idp, "x" * 9000) is JwtFailure.MALFORMED


def test_time_claims(idp: IdentityProvider) -> None:
    assert _failure(idp, idp.token("x", now=NOW + timedelta(minutes=5))) is JwtFailure.NOT_YET_VALID
    assert _failure(idp, idp.token("x", now=NOW, nbf=int(NOW.timestamp()) + 600)) is JwtFailure.NOT_YET_VALID
    assert _failure(idp, idp.token("x", now=NOW, exp=10**20)) in (JwtFailure.MALFORMED, JwtFailure.TOO_LONG_LIVED)
    assert _failure(idp, idp.token("x", now=NOW, exp="tomorrow")) is JwtFailure.MALFORMED
    # Within the leeway an just-expired token still passes (clock skew between machines).
    assert _verify(idp, idp.token("x", now=NOW - timedelta(minutes=10), lifetime=timedelta(minutes=9, seconds=45)))


def test_jwks_parsing() -> None:
    with pytest.raises(ConfigurationError):
        parse_jwks(b"not json")
    with pytest.raises(ConfigurationError):
        parse_jwks({"keys": [{"kty": "RSA", "kid": "small", "n": b64url((2**1023 + 1).to_bytes(128, "big")), "e": "AQAB"}]})
    skipped = parse_jwks({"keys": [{"kty": "RSA", "use": "enc", "n": "AA", "e": "AQAB"}, {"kty": "OKP", "crv": "Ed25519", "x": "AA"}]})
    assert skipped.kids == ()


def test_each_claim_refusal_names_its_own_failure(idp: IdentityProvider) -> None:
    assert _failure(idp, idp.token("x", now=NOW, iss=None)) is JwtFailure.WRONG_ISSUER
    assert _failure(idp, idp.token("x", now=NOW, iss="https://other.example")) is JwtFailure.WRONG_ISSUER
    assert _failure(idp, idp.token("x", now=NOW, aud=None)) is JwtFailure.WRONG_AUDIENCE
    assert _failure(idp, idp.token("x", now=NOW, aud=["other", 7])) is JwtFailure.WRONG_AUDIENCE
    assert _failure(idp, idp.token("x", now=NOW, iat=None)) is JwtFailure.MISSING_CLAIM
    assert _failure(idp, idp.token("x", now=NOW, jti="")) is JwtFailure.MISSING_CLAIM
    assert _failure(idp, idp.token("x", now=NOW - timedelta(hours=1))) is JwtFailure.EXPIRED
    assert _failure(idp, idp.token("x", now=NOW, lifetime=timedelta(hours=2))) is JwtFailure.TOO_LONG_LIVED
    good = idp.token("x", now=NOW)
    head, body, signature = good.split(".")
    assert _failure(idp, f"{head}.{body}.{signature[:-4]}AAAA") is JwtFailure.BAD_SIGNATURE
    assert _failure(idp, f"{head}.{b64url(b'not json')}.{signature}") is JwtFailure.MALFORMED
    assert _failure(idp, idp.token("x", now=NOW, header={"kid": "no-such-key"})) is JwtFailure.UNKNOWN_KEY
