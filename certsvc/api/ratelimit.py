"""Per-client-address rate limit for the public (unauthenticated) endpoints.

A token bucket per address, in process memory: the limit holds per API process, which is the
useful bound for a public page behind one address; several processes multiply it (documented in
docs/qr.md). ``CERTSVC_PUBLIC_RATE_LIMIT_PER_MINUTE`` sets it; 0 turns it off.
"""

from __future__ import annotations

import threading
import time

from fastapi import HTTPException, Request

from certsvc.api.deps import ContextDep

__all__ = ["RateLimiter", "client_key", "public_rate_limit"]

_MAX_TRACKED = 50_000  # addresses kept; beyond that idle buckets are dropped (memory bound)


class RateLimiter:
    """Token buckets: ``per_minute`` tokens, refilled continuously, one per request."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, last refill)
        self._lock = threading.Lock()

    def allow(self, address: str, *, now: float | None = None) -> tuple[bool, float]:
        """(allowed, seconds until the next token) for one request from ``address``."""
        if self.per_minute <= 0:
            return True, 0.0
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        with self._lock:
            tokens, last = self._buckets.get(address, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[address] = (tokens, now)
            if len(self._buckets) > _MAX_TRACKED:
                self._prune(now, rate)
            return allowed, 0.0 if allowed else (1.0 - tokens) / rate

    def _prune(self, now: float, rate: float) -> None:
        full = [a for a, (t, last) in self._buckets.items() if t + (now - last) * rate >= self.per_minute]
        for address in full:
            del self._buckets[address]


def _limiter(request: Request, per_minute: int) -> RateLimiter:
    state = request.app.state
    limiter: RateLimiter | None = getattr(state, "public_rate_limiter", None)
    if limiter is None or limiter.per_minute != per_minute:
        limiter = RateLimiter(per_minute)
        state.public_rate_limiter = limiter
    return limiter


def client_key(request: Request) -> str:
    """What a limit counts against: the client's address.

    The server resolves it (``api/serving.py``): the peer, or behind a proxy listed in
    ``CERTSVC_TRUSTED_PROXIES`` the address that proxy saw. A header here is never read: a
    client can send any ``X-Forwarded-For`` it likes.
    """
    return request.client.host if request.client else "unknown"


def public_rate_limit(request: Request, ctx: ContextDep) -> None:
    """Dependency of every public router: 429 with Retry-After past the limit."""
    allowed, retry_after = _limiter(request, ctx.settings.public_rate_limit_per_minute).allow(client_key(request))
    if not allowed:
        raise HTTPException(
            status_code=429,
            detail="too many requests from this address; try again shortly",
            headers={"Retry-After": str(max(1, int(retry_after + 0.999)))},
        )

