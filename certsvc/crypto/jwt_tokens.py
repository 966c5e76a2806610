"""Verifying OpenID Connect style bearer tokens (JWS compact JWTs) against a JWKS.

Written out here on pyca/cryptography rather than taken from a JWT library: certsvc needs two
algorithms (RS256, ES256) and one direction (verify), and every rule that protects it is then
visible in one place:

* the algorithm comes from our allow-list, never from the token alone (``alg: none`` and
  HS256-with-a-public-key confusion are impossible: the key's type must match the algorithm);
* the key is picked by ``kid`` from the configured JWKS only (``jku``/``x5u``/``jwk`` headers
  that point elsewhere are ignored, ``crit`` is refused);
* ``iss``, ``aud``, ``exp``, ``iat`` and ``jti`` are required; the lifetime is bounded;
* JSON with duplicate member names is refused (RFC 7515 §5.2 allows refusing; parsers differ).

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

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

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
    alg: str | None
    public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey


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
        raise TokenRejectedError(JwtFailure.MALFORMED, f"token {what} is not a JSON object") from exc
    if not isinstance(value, dict):
        raise TokenRejectedError(JwtFailure.MALFORMED, f"token {what} is not a JSON object")
    return value


def _int_from_b64(value: object, name: str) -> int:
    if not isinstance(value, str):
        raise ConfigurationError(f"JWKS key member {name!r} is missing")
    try:
        return int.from_bytes(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)), "big")
    except (binascii.Error, ValueError) as exc:
        raise ConfigurationError(f"JWKS key member {name!r} is not base64url") from exc


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
        public_key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey
        if raw.get("kty") == "RSA":
            public_key = rsa.RSAPublicNumbers(_int_from_b64(raw.get("e"), "e"), _int_from_b64(raw.get("n"), "n")).public_key()
            if public_key.key_size < _MIN_RSA_BITS:
                raise ConfigurationError(f"JWKS RSA key {kid!r} is shorter than {_MIN_RSA_BITS} bits")
            keys.append(_Key(kid, "RSA", alg, public_key))
        elif raw.get("kty") == "EC" and raw.get("crv") == "P-256":
            try:
                public_key = ec.EllipticCurvePublicNumbers(
                    _int_from_b64(raw.get("x"), "x"), _int_from_b64(raw.get("y"), "y"), ec.SECP256R1()
                ).public_key()
            except ValueError as exc:  # the point is not on the curve
                raise ConfigurationError(f"JWKS EC key {kid!r} is not a P-256 point") from exc
            keys.append(_Key(kid, "EC", alg, public_key))
    return JsonWebKeySet(tuple(keys))


def _check_signature(key: _Key, alg: str, signing_input: bytes, signature: bytes) -> None:
    try:
        if alg == "RS256" and isinstance(key.public_key, rsa.RSAPublicKey):
            key.public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
            return
        if alg == "ES256" and isinstance(key.public_key, ec.EllipticCurvePublicKey):
            # RFC 7518 §3.4: the JWS signature is r || s, 32 bytes each, not DER.
            if len(signature) != 64:
                raise InvalidSignature
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            key.public_key.verify(encode_dss_signature(r, s), signing_input, ec.ECDSA(hashes.SHA256()))
            return
    except InvalidSignature as exc:
        raise TokenRejectedError(JwtFailure.BAD_SIGNATURE, "token signature does not verify") from exc
    raise TokenRejectedError(JwtFailure.BAD_SIGNATURE, "token signature does not verify")


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
        raise TokenRejectedError(JwtFailure.MALFORMED, f"token claim {name!r} is out of range") from exc


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
        raise TokenRejectedError(JwtFailure.MALFORMED, "token is not a compact JWS (header.payload.signature)")
    header = _json_object(_b64url(parts[0]), "header")
    alg = header.get("alg")
    allowed = SUPPORTED_ALGORITHMS.intersection(algorithms)
    if not isinstance(alg, str) or alg not in allowed:
        raise TokenRejectedError(JwtFailure.UNSUPPORTED_ALGORITHM, f"token algorithm {alg!r} is not accepted")
    if "crit" in header:
        raise TokenRejectedError(JwtFailure.MALFORMED, "token uses critical header extensions")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenRejectedError(JwtFailure.MALFORMED, "token kid is not a string")
    key = keys.find(kid, "RSA" if alg == "RS256" else "EC")
    if key is None or (key.alg is not None and key.alg != alg):
        raise TokenRejectedError(JwtFailure.UNKNOWN_KEY, "token was not signed with a key of the configured issuer")
    _check_signature(key, alg, f"{parts[0]}.{parts[1]}".encode("ascii"), _b64url(parts[2]))

    # Only now, with the signature checked, are the claims worth reading.
    claims = _json_object(_b64url(parts[1]), "payload")
    if claims.get("iss") != issuer:
        raise TokenRejectedError(JwtFailure.WRONG_ISSUER, "token was issued by another issuer")
    aud = claims.get("aud")
    audiences = aud if isinstance(aud, list) else [aud]
    if audience not in audiences:
        raise TokenRejectedError(JwtFailure.WRONG_AUDIENCE, "token is meant for another audience")
    expires_at = _numeric_date(claims, "exp", required=True)
    issued_at = _numeric_date(claims, "iat", required=True)
    not_before = _numeric_date(claims, "nbf", required=False)
    assert expires_at is not None and issued_at is not None
    if expires_at <= now - leeway:
        raise TokenRejectedError(JwtFailure.EXPIRED, "token has expired")
    if issued_at > now + leeway or (not_before is not None and not_before > now + leeway):
        raise TokenRejectedError(JwtFailure.NOT_YET_VALID, "token is not valid yet")
    if expires_at - issued_at > max_lifetime:
        raise TokenRejectedError(JwtFailure.TOO_LONG_LIVED, "token lifetime is longer than accepted")
    if not isinstance(claims.get("jti"), str) or not claims["jti"]:
        raise TokenRejectedError(JwtFailure.MISSING_CLAIM, "token has no 'jti' claim (needed against replay)")
    return VerifiedToken(algorithm=alg, kid=kid, claims=claims, issued_at=issued_at, expires_at=expires_at)
