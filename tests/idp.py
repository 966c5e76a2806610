"""A small identity provider for tests: its own keys, a JWKS served over real HTTP, token minting.

Served on 127.0.0.1 in a thread (rather than handed to certsvc as a file) so the tests run the
code a deployment runs: fetching the JWKS by URL, caching it, refetching it when a token names a
key certsvc has not seen (key rotation). Tokens are signed here with pyca/cryptography directly,
independently of certsvc's verifier, so the two check each other.
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

__all__ = ["IdentityProvider", "b64url", "fresh_resident_id", "fresh_uscc"]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(value: int, length: int | None = None) -> str:
    return b64url(value.to_bytes(length or (value.bit_length() + 7) // 8, "big"))


class _Key:
    def __init__(self, kid: str, alg: str) -> None:
        self.kid, self.alg = kid, alg
        self.private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey = (
            rsa.generate_private_key(65537, 2048) if alg == "RS256" else ec.generate_private_key(ec.SECP256R1())
        )

    def jwk(self) -> dict[str, str]:
        pub = self.private.public_key()
        if isinstance(pub, rsa.RSAPublicKey):
            n = pub.public_numbers()
            return {"kty": "RSA", "kid": self.kid, "alg": "RS256", "use": "sig", "n": _int(n.n), "e": _int(n.e)}
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        p = pub.public_numbers()
        return {"kty": "EC", "kid": self.kid, "alg": "ES256", "use": "sig", "crv": "P-256", "x": _int(p.x, 32), "y": _int(p.y, 32)}

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private, rsa.RSAPrivateKey):
            return self.private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        r, s = decode_dss_signature(self.private.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")


class IdentityProvider:
    """Mints OIDC-style tokens for holders and publishes its JWKS."""

    def __init__(self, issuer: str = "https://idp.test.example.gov.cn", audience: str = "certsvc") -> None:
        self.issuer = issuer
        self.audience = audience
        self.keys = [_Key("rsa-1", "RS256"), _Key("ec-1", "ES256")]
        self.jwks_hits = 0
        self.jwks_url = ""
        self._server: ThreadingHTTPServer | None = None

    def jwks(self) -> dict[str, Any]:
        return {"keys": [k.jwk() for k in self.keys]}

    def rotate(self) -> str:
        """Publish a new RSA key (the old ones stay published); return its kid."""
        key = _Key(f"rsa-{len(self.keys) + 1}", "RS256")
        self.keys.append(key)
        return key.kid

    def token(
        self,
        holder: str,
        id_type: str = "uscc",
        *,
        now: datetime,
        kid: str = "rsa-1",
        lifetime: timedelta = timedelta(minutes=10),
        name: str | None = None,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        key = next(k for k in self.keys if k.kid == kid)
        body: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": f"sub-{holder}",
            "iat": int(now.timestamp()),
            "exp": int((now + lifetime).timestamp()),
            "jti": uuid.uuid4().hex,
            "holder_id_type": id_type,
            "holder_id": holder,
        }
        if name:
            body["name"] = name
        body.update(claims)
        head = {"alg": key.alg, "typ": "JWT", "kid": kid, **(header or {})}
        signing_input = f"{b64url(json.dumps(head).encode())}.{b64url(json.dumps(body).encode())}"
        return f"{signing_input}.{b64url(key.sign(signing_input.encode()))}"

    @contextmanager
    def serve(self) -> Iterator[IdentityProvider]:
        """Serve ``/jwks.json`` on an ephemeral 127.0.0.1 port until the block ends."""
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                idp.jwks_hits += 1
                body = json.dumps(idp.jwks()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:  # keep test output quiet
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server = server
        self.jwks_url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()


_USCC_CHARSET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_counter = iter(range(1, 10**6))


def fresh_uscc() -> str:
    """A valid 统一社会信用代码 never used before in this test session."""
    from certsvc.domain.identifiers import uscc_check_char

    body = f"91320213MA{next(_counter) + uuid.uuid4().int % 10**5:07d}"[:17]
    body = "".join(ch if ch in _USCC_CHARSET else "0" for ch in body)
    return body + uscc_check_char(body)


def fresh_resident_id() -> str:
    """A valid 居民身份证号码 (GB 11643) never used before in this test session."""
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    body = f"11010519900101{(next(_counter) * 7 + uuid.uuid4().int) % 1000:03d}"
    total = sum(int(c) * w for c, w in zip(body, weights, strict=True))
    return body + "10X98765432"[total % 11]


# --- scenario helpers for the holder and sharing API tests ------------------------------------
FOOD = "food-business-licence"
DRUG = "drug-business-licence"


def issue_for(client: Any, api_key: str, holder: str, *, template: str = FOOD, name: str = "无锡市测试持证企业有限公司") -> str:
    """Issue a licence of ``template`` to the organisation ``holder``; return its identifier."""
    from tests.conftest import auth, sample_request

    body = sample_request(template)
    body["holder"] = {"name": name, "id_type": "uscc", "id": holder}
    response = client.post("/api/v1/certificates", json=body, headers=auth(api_key))
    assert response.status_code == 201, response.text
    return str(response.json()["identifier"])


def holder_auth(idp: IdentityProvider, ctx: Any, holder: str, id_type: str = "uscc") -> dict[str, str]:
    """Headers with a fresh token for ``holder`` (a new jti each call)."""
    return {"Authorization": f"Bearer {idp.token(holder, id_type, now=ctx.clock.now())}"}


def grant(
    client: Any,
    idp: IdentityProvider,
    ctx: Any,
    holder: str,
    department_code: str,
    *,
    licence_type: str | None = FOOD,
    certificate_identifier: str | None = None,
    application_no: str = "BJ2026-0001",
    days: float = 7,
    is_single_use: bool = False,
) -> dict[str, Any]:
    """The holder authorizes a department; returns the answer body."""
    expires_at = (ctx.clock.now() + timedelta(days=days)).isoformat()
    body = {
        "department_code": department_code,
        "licence_type": licence_type,
        "certificate_identifier": certificate_identifier,
        "application_no": application_no,
        "purpose": "办理食品经营许可变更，免于提交纸质证照",
        "expires_at": expires_at,
        "is_single_use": is_single_use,
    }
    response = client.post("/api/v1/holder/authorizations", json=body, headers=holder_auth(idp, ctx, holder))
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


def query_body(holder: str, code: str, *, licence_type: str = FOOD, application_no: str = "BJ2026-0001") -> dict[str, str]:
    return {
        "holder_id_type": "uscc",
        "holder_id": holder,
        "licence_type": licence_type,
        "authorization_code": code,
        "application_no": application_no,
        "reason": "食品经营许可变更登记，核对营业执照及许可证",
    }
