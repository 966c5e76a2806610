"""Verifying OpenID Connect style bearer tokens (JWS compact JWTs) against a JWKS.

PyJWT checks the signature and the issuer and audience; around it, the rules that protect
certsvc stay here, in one place:

* the algorithm comes from our allow-list, never from the token alone (``alg: none`` and
  HS256-with-a-public-key confusion are impossible: the key's type must match the algorithm);
* the key is picked by ``kid`` from the configured JWKS only (``jku``/``x5u``/``jwk`` headers
  that point elsewhere are ignored, ``crit`` is refused);
* ``iss``, ``aud``, ``exp``, ``iat`` and ``jti`` are required; the lifetime is bounded; times
  are checked against the caller's clock (``now``), not the library's;
* JSON with duplicate member names is refused before any parser picks one of the values
  (RFC 7515 §5.2 allows refusing; parsers differ, and PyJWT's keeps the last).

No I/O here: the caller fetches the JWKS and passes it in.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from certsvc.errors import AuthenticationError, ConfigurationError

__all__ = [
    "SUPPORTED_ALGORITHMS",
    "JsonWebKeySet",
    "JwtFailure",
    "TokenRejectedError",
    "VerifiedToken",
    "parse_jwks",
    "verify_jwt",
]

SUPPORTED_ALGORITHMS = frozenset({"RS256", "ES256"})
_MAX_TOKEN_CHARS = 8192  # a real ID token is 1-2 KB; refuse before decoding anything big
_MIN_RSA_BITS = 2048


class JwtFailure(StrEnum):
    """Why a token was refused; services turn these into their own stable error codes."""

    MALFORMED = "malformed"
    UNSUPPORTED_ALGORITHM = "unsupported_algorithm"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    MISSING_CLAIM = "missing_claim"
    TOO_LONG_LIVED = "too_long_lived"


class TokenRejectedError(AuthenticationError):
    code = "token_rejected"

    def __init__(self, failure: JwtFailure, message: str) -> None:
        super().__init__(message)
        self.failure = failure


@dataclass(frozen=True, slots=True)
class _Key:
    kid: str | None
    kty: str  # "RSA" or "EC"
    alg: str | None  # the JWK's own "alg", if it names one
    jwk: jwt.PyJWK


@dataclass(frozen=True)
class JsonWebKeySet:
    """The verification keys of one issuer (RFC 7517), parsed once and kept."""

    keys: tuple[_Key, ...]

    @property
    def kids(self) -> tuple[str | None, ...]:
        return tuple(k.kid for k in self.keys)

    def find(self, kid: str | None, kty: str) -> _Key | None:
        candidates = [k for k in self.keys if k.kty == kty]
        if kid is not None:
            return next((k for k in candidates if k.kid == kid), None)
        # Without a kid only an unambiguous set will do; guessing would let one key stand in for another.
        return candidates[0] if len(candidates) == 1 else None


@dataclass(frozen=True)
class VerifiedToken:
    algorithm: str
    kid: str | None
    claims: Mapping[str, object]
    issued_at: datetime
    expires_at: datetime


def _b64url(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TokenRejectedError(JwtFailure.MALFORMED, "token is not base64url") from exc


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result: dict[str, object] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate member {key!r}")
        result[key] = value
    return result


def _json_object(raw: bytes, what: str) -> dict[str, object]:
    try:
        value = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        raise TokenRejectedError(
            JwtFailure.MALFORMED, f"token {what} is not a JSON object"
        ) from exc
    if not isinstance(value, dict):
        raise TokenRejectedError(JwtFailure.MALFORMED, f"token {what} is not a JSON object")
    return value


def parse_jwks(document: bytes | str | Mapping[str, object]) -> JsonWebKeySet:
    """Parse a JWKS document. Keys of other types or uses (encryption) are skipped.

    Raises:
        ConfigurationError: the document is not a JWKS, or a signing key in it is unusable.
    """
    if isinstance(document, bytes | str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise ConfigurationError("JWKS is not JSON") from exc
    raw_keys = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(raw_keys, list):
        raise ConfigurationError("JWKS must be an object with a 'keys' array")
    keys: list[_Key] = []
    for raw in raw_keys:
        if not isinstance(raw, Mapping) or raw.get("use", "sig") != "sig":
            continue
        kid = raw.get("kid") if isinstance(raw.get("kid"), str) else None
        alg = raw.get("alg") if isinstance(raw.get("alg"), str) else None
        kty = raw.get("kty")
        if kty not in ("RSA", "EC") or (kty == "EC" and raw.get("crv") != "P-256"):
            continue
        try:
            jwk = jwt.PyJWK(dict(raw))
        except (
            jwt.PyJWTError,
            KeyError,
            TypeError,
            ValueError,
        ) as exc:  # missing members, off-curve point
            raise ConfigurationError(f"JWKS {kty} key {kid!r} is not usable: {exc}") from exc
        if isinstance(jwk.key, rsa.RSAPublicKey) and jwk.key.key_size < _MIN_RSA_BITS:
            raise ConfigurationError(f"JWKS RSA key {kid!r} is shorter than {_MIN_RSA_BITS} bits")
        keys.append(_Key(kid, str(kty), alg, jwk))
    return JsonWebKeySet(tuple(keys))


def _numeric_date(claims: Mapping[str, object], name: str, *, required: bool) -> datetime | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise TokenRejectedError(JwtFailure.MISSING_CLAIM, f"token has no {name!r} claim")
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenRejectedError(JwtFailure.MALFORMED, f"token claim {name!r} is not a NumericDate")
    try:
        return datetime.fromtimestamp(value, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise TokenRejectedError(
            JwtFailure.MALFORMED, f"token claim {name!r} is out of range"
        ) from exc


# What PyJWT checks: the signature, then iss and aud. Times are checked below against the
# caller's clock, and the required claims in certsvc's own order of refusals.
_PYJWT_OPTIONS: jwt.types.Options = {
    "verify_signature": True,
    "verify_iss": True,
    "verify_aud": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_jti": False,  # jti is required and checked below (PyJWT only checks its type)
    "verify_sub": False,  # certsvc reads holder_id, never sub
    "require": [],
}


def _signed_claims(
    token: str, key: _Key, alg: str, *, issuer: str, audience: str
) -> dict[str, object]:
    try:
        claims: dict[str, object] = jwt.decode(
            token,
            key=key.jwk,
            algorithms=[alg],
            issuer=issuer,
            audience=audience,
            options=_PYJWT_OPTIONS,
        )
    except jwt.InvalidSignatureError as exc:
        raise TokenRejectedError(
            JwtFailure.BAD_SIGNATURE, "token signature does not verify"
        ) from exc
    except jwt.InvalidAlgorithmError as exc:
        raise TokenRejectedError(
            JwtFailure.UNSUPPORTED_ALGORITHM, "token algorithm is not accepted"
        ) from exc
    except jwt.InvalidIssuerError as exc:
        raise TokenRejectedError(
            JwtFailure.WRONG_ISSUER, "token was issued by another issuer"
        ) from exc
    except jwt.InvalidAudienceError as exc:
        raise TokenRejectedError(
            JwtFailure.WRONG_AUDIENCE, "token is meant for another audience"
        ) from exc
    except jwt.MissingRequiredClaimError as exc:
        if exc.claim == "iss":
            raise TokenRejectedError(
                JwtFailure.WRONG_ISSUER, "token was issued by another issuer"
            ) from exc
        if exc.claim == "aud":
            raise TokenRejectedError(
                JwtFailure.WRONG_AUDIENCE, "token is meant for another audience"
            ) from exc
        raise TokenRejectedError(
            JwtFailure.MISSING_CLAIM, f"token has no {exc.claim!r} claim"
        ) from exc
    except jwt.PyJWTError as exc:
        raise TokenRejectedError(JwtFailure.MALFORMED, "token is not a valid JWT") from exc
    return claims


def verify_jwt(
    token: str,
    *,
    keys: JsonWebKeySet,
    issuer: str,
    audience: str,
    now: datetime,
    algorithms: Sequence[str] = ("RS256", "ES256"),
    leeway: timedelta = timedelta(seconds=30),
    max_lifetime: timedelta = timedelta(hours=1),
) -> VerifiedToken:
    """Verify signature and registered claims of a compact JWS; return its claims.

    Raises:
        TokenRejectedError: with ``failure`` saying why (malformed, unknown key, bad signature,
            expired, wrong issuer or audience, missing claim, lifetime too long).
    """
    if len(token) > _MAX_TOKEN_CHARS:
        raise TokenRejectedError(JwtFailure.MALFORMED, "token is too long")
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise TokenRejectedError(
            JwtFailure.MALFORMED, "token is not a compact JWS (header.payload.signature)"
        )
    header = _json_object(_b64url(parts[0]), "header")
    alg = header.get("alg")
    allowed = SUPPORTED_ALGORITHMS.intersection(algorithms)
    if not isinstance(alg, str) or alg not in allowed:
        raise TokenRejectedError(
            JwtFailure.UNSUPPORTED_ALGORITHM, f"token algorithm {alg!r} is not accepted"
        )
    if "crit" in header:
        raise TokenRejectedError(JwtFailure.MALFORMED, "token uses critical header extensions")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenRejectedError(JwtFailure.MALFORMED, "token kid is not a string")
    key = keys.find(kid, "RSA" if alg == "RS256" else "EC")
    if key is None or (key.alg is not None and key.alg != alg):
        raise TokenRejectedError(
            JwtFailure.UNKNOWN_KEY, "token was not signed with a key of the configured issuer"
        )
    # Refused here, before PyJWT parses the payload its own way (the last duplicate would win).
    _json_object(_b64url(parts[1]), "payload")
    claims = _signed_claims(token, key, alg, issuer=issuer, audience=audience)
    expires_at = _numeric_date(claims, "exp", required=True)
    issued_at = _numeric_date(claims, "iat", required=True)
    not_before = _numeric_date(claims, "nbf", required=False)
    assert expires_at is not None and issued_at is not None
    if expires_at <= now - leeway:
        raise TokenRejectedError(JwtFailure.EXPIRED, "token has expired")
    if issued_at > now + leeway or (not_before is not None and not_before > now + leeway):
        raise TokenRejectedError(JwtFailure.NOT_YET_VALID, "token is not valid yet")
    if expires_at - issued_at > max_lifetime:
        raise TokenRejectedError(
            JwtFailure.TOO_LONG_LIVED, "token lifetime is longer than accepted"
        )
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise TokenRejectedError(
            JwtFailure.MISSING_CLAIM, "token has no 'jti' claim (needed against replay)"
        )
    return VerifiedToken(
        algorithm=alg, kid=kid, claims=claims, issued_at=issued_at, expires_at=expires_at
    )
