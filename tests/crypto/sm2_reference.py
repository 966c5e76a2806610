"""Pure-Python SM2 arithmetic — a *reference* for tests only. Not constant-time; never used to sign.

Its purpose is the worked example of GB/T 32918.5-2017 Annex A / GM/T 0003.5-2012 Annex A
(signature on the recommended curve): the tests check Z_A and e bit for bit and verify the
published (r, s) with the published public key, here and in the production backend (OpenSSL),
and check that signatures this reference makes with keys generated in the test verify in
OpenSSL. The tests keep no private key, the example's included. The production path
(:mod:`certsvc.crypto.sm2`) never accepts a caller-chosen nonce.
"""

from __future__ import annotations

from certsvc.crypto.sm2 import DEFAULT_SIGNER_ID, sm3

__all__ = ["GX", "GY", "A", "B", "N", "P", "e_digest", "public_point", "z_digest"]

# GB/T 32918.5-2017 §A / GM/T 0003.5-2012: recommended curve sm2p256v1 parameters.
P = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF
A = P - 3
B = 0x28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
GX = 0x32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7
GY = 0xBC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0

_Point = tuple[int, int] | None  # None = point at infinity


def _add(p1: _Point, p2: _Point) -> _Point:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    x1, y1 = p1
    x2, y2 = p2
    if x1 == x2 and (y1 + y2) % P == 0:
        return None
    if p1 == p2:
        lam = (3 * x1 * x1 + A) * pow(2 * y1, -1, P) % P
    else:
        lam = (y2 - y1) * pow(x2 - x1, -1, P) % P
    x3 = (lam * lam - x1 - x2) % P
    return x3, (lam * (x1 - x3) - y1) % P


def _mul(k: int, point: _Point) -> _Point:
    result: _Point = None
    addend = point
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    return result


def public_point(d: int) -> tuple[int, int]:
    """P_A = [d]G (GB/T 32918.1 §6.1)."""
    q = _mul(d, (GX, GY))
    assert q is not None
    return q


def _b32(v: int) -> bytes:
    return v.to_bytes(32, "big")


def z_digest(x_a: int, y_a: int, signer_id: bytes = DEFAULT_SIGNER_ID) -> bytes:
    """Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A) (GB/T 32918.2 §5.5)."""
    entl = (len(signer_id) * 8).to_bytes(2, "big")
    return sm3(entl + signer_id + b"".join(_b32(v) for v in (A, B, GX, GY, x_a, y_a)))


def e_digest(z: bytes, message: bytes) -> int:
    """e = H_v(Z_A || M) as an integer (GB/T 32918.2 §6.1 steps A1–A2)."""
    return int.from_bytes(sm3(z + message), "big")


def _sign_with_fixed_k(d: int, message: bytes, k: int, signer_id: bytes) -> tuple[int, int]:
    # A chosen k exists ONLY to cross-check this reference against OpenSSL in tests. A fixed or
    # caller-chosen k that is ever reused or guessable reveals d (d = (k - s)/(s + r) mod n),
    # so this is private, undocumented for callers, and absent from the production API.
    x_a, y_a = public_point(d)
    e = e_digest(z_digest(x_a, y_a, signer_id), message)
    point = _mul(k, (GX, GY))
    assert point is not None
    r = (e + point[0]) % N  # A5
    if r == 0 or r + k == N:
        raise ValueError("bad k for this message")
    s = pow(1 + d, -1, N) * (k - r * d) % N  # A6
    if s == 0:
        raise ValueError("bad k for this message")
    return r, s


def _verify(x_a: int, y_a: int, message: bytes, r: int, s: int, signer_id: bytes) -> bool:
    """GB/T 32918.2 §7.1 (B1–B7), used to cross-check the backend in tests."""
    if not (1 <= r < N and 1 <= s < N):
        return False
    t = (r + s) % N
    if t == 0:
        return False
    e = e_digest(z_digest(x_a, y_a, signer_id), message)
    point = _add(_mul(s, (GX, GY)), _mul(t, (x_a, y_a)))
    return point is not None and (e + point[0]) % N == r
