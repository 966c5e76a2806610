"""The public rate limit across API processes: shared through Redis when the cluster has one,
per process otherwise; and a Redis that does not answer never takes the public pages down."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from fastapi.testclient import TestClient

from certsvc.api.app import create_app
from certsvc.services.context import ServiceContext
from tests.servers import RedisServer, free_port


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _node(ctx: ServiceContext, broker_url: str | None) -> TestClient:
    # Each app is what one API process holds: its own limiter, its own memory.
    settings = ctx.settings.model_copy(update={"public_rate_limit_per_minute": 3, "broker_url": broker_url})
    return TestClient(create_app(replace(ctx, settings=settings)))


def test_two_processes_share_one_limit_through_redis(embedded: ServiceContext, redis_server: RedisServer) -> None:
    import redis

    redis.Redis.from_url(redis_server.url).flushall()
    with _node(embedded, redis_server.url) as a, _node(embedded, redis_server.url) as b:
        codes = [client.get("/api/v1/trust/keys").status_code for client in (a, b, a, b, a)]
        assert codes == [200, 200, 200, 429, 429]
        refused = b.get("/api/v1/trust/keys")
        assert refused.json()["code"] == "rate_limited" and int(refused.headers["retry-after"]) >= 1


def test_without_redis_each_process_counts_its_own(embedded: ServiceContext) -> None:
    with _node(embedded, None) as a, _node(embedded, None) as b:
        codes = [client.get("/api/v1/trust/keys").status_code for client in (a, b, a, b, a, b, a)]
        assert codes == [200] * 6 + [429]


def test_a_redis_that_does_not_answer_lets_requests_through(embedded: ServiceContext) -> None:
    with _node(embedded, f"redis://127.0.0.1:{free_port()}/0") as a:
        assert [a.get("/api/v1/trust/keys").status_code for _ in range(5)] == [200] * 5
