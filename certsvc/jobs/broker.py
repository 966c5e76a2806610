"""The message broker of the Celery engine (Redis): reachability, for readiness probes."""

from __future__ import annotations

__all__ = ["broker_problem"]


def broker_problem(url: str, *, timeout_seconds: float = 2.0) -> str | None:
    """Why the broker at ``url`` cannot be used right now, or None when it answers a PING."""
    try:
        import redis
    except ImportError:
        return "the redis client is not installed (install certsvc with the celery extra)"
    client = redis.Redis.from_url(
        url, socket_timeout=timeout_seconds, socket_connect_timeout=timeout_seconds
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"the broker does not answer: {type(exc).__name__}"
    finally:
        client.close()
    return None
