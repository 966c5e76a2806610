"""Per-client-address rate limit for the public (unauthenticated) endpoints.

A token bucket per address. With ``CERTSVC_BROKER_URL`` set, the buckets live in that Redis and
every API process of the cluster counts against the same ones (one atomic script per request);
without it, they live in process memory and N processes allow N times the limit (documented in
docs/deployment.md). ``CERTSVC_PUBLIC_RATE_LIMIT_PER_MINUTE`` sets it; 0 turns it off.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Protocol

from fastapi import HTTPException, Request

from certsvc.api.deps import ContextDep

__all__ = ["Limiter", "RateLimiter", "RedisRateLimiter", "client_key", "public_rate_limit"]

_log = logging.getLogger("certsvc.api.ratelimit")

_MAX_TRACKED = 50_000  # addresses kept; beyond that idle buckets are dropped (memory bound)


class Limiter(Protocol):
    per_minute: int

    def allow(self, address: str) -> tuple[bool, float]:
        """(allowed, seconds until the next token) for one request from ``address``."""
        ...


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
        full = [
            a
            for a, (t, last) in self._buckets.items()
            if t + (now - last) * rate >= self.per_minute
        ]
        for address in full:
            del self._buckets[address]


# The same token bucket as ``RateLimiter``, run atomically inside Redis on Redis's clock (the
# processes' clocks need not agree). Returns {allowed, seconds to wait}.
_BUCKET_SCRIPT = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local bucket = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(bucket[1]) or capacity
local at = tonumber(bucket[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local allowed = 0
if tokens >= 1 then
  tokens = tokens - 1
  allowed = 1
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(capacity / rate) + 1)
if allowed == 1 then
  return {1, '0'}
end
return {0, tostring((1 - tokens) / rate)}
"""


class RedisRateLimiter:
    """Token buckets in Redis, shared by every API process that uses the same Redis.

    When Redis does not answer, requests are let through (and the failure logged, at most once
    a minute): the limit protects the public pages, it must not take them down with Redis.
    """

    def __init__(self, per_minute: int, url: str, *, timeout_seconds: float = 0.5) -> None:
        import redis

        self.per_minute = per_minute
        self._errors: tuple[type[Exception], ...] = (redis.RedisError,)
        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
        )
        self._script: Any = self._client.register_script(_BUCKET_SCRIPT)
        self._last_warning = 0.0

    def allow(self, address: str) -> tuple[bool, float]:
        if self.per_minute <= 0:
            return True, 0.0
        try:
            allowed, wait = self._script(
                keys=[f"certsvc:ratelimit:public:{address}"],
                args=[self.per_minute, self.per_minute / 60.0],
            )
        except self._errors as exc:
            if time.monotonic() - self._last_warning > 60:
                self._last_warning = time.monotonic()
                _log.warning(
                    "the shared rate limit is off: Redis does not answer (%s)", type(exc).__name__
                )
            return True, 0.0
        return bool(int(allowed)), float(wait)


def _limiter(request: Request, per_minute: int, shared_url: str | None) -> Limiter:
    state = request.app.state
    limiter: Limiter | None = getattr(state, "public_rate_limiter", None)
    if limiter is None or limiter.per_minute != per_minute:
        if shared_url:
            try:
                limiter = RedisRateLimiter(per_minute, shared_url)
            except ImportError:
                _log.warning("the redis client is not installed: the rate limit counts per process")
                limiter = RateLimiter(per_minute)
        else:
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
    settings = ctx.settings
    limiter = _limiter(request, settings.public_rate_limit_per_minute, settings.broker_url)
    allowed, retry_after = limiter.allow(client_key(request))
    if not allowed:
        raise HTTPException(
            status_code=429,
            detail="too many requests from this address; try again shortly",
            headers={"Retry-After": str(max(1, int(retry_after + 0.999)))},
        )
