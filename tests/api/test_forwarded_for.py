"""The public rate limit counts the real client: X-Forwarded-For is believed only from trusted proxies.

Served for real by uvicorn with the options ``certsvc serve`` uses, because uvicorn itself
believes the header from 127.0.0.1 by default, which made the limit a suggestion for anyone who
could reach the port from the machine (or through a proxy that passes the header on).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import httpx
import pytest
import uvicorn

from certsvc.api.app import create_app
from certsvc.api.serving import server_options
from certsvc.config import load_settings
from certsvc.errors import ConfigurationError
from certsvc.services.context import ServiceContext

_LIMIT = 3


@contextmanager
def _serve(ctx: ServiceContext) -> Iterator[str]:
    config = uvicorn.Config(create_app(ctx), host="127.0.0.1", port=0, log_level="warning", **server_options(ctx.settings))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _limited(embedded: ServiceContext, trusted_proxies: str) -> ServiceContext:
    update = {"public_rate_limit_per_minute": _LIMIT, "trusted_proxies": trusted_proxies}
    return replace(embedded, settings=embedded.settings.model_copy(update=update))


def _statuses(url: str, forwarded_for: list[str]) -> list[int]:
    with httpx.Client(base_url=url, timeout=30) as client:
        return [client.get("/v/1.2.3", headers={"X-Forwarded-For": ip}).status_code for ip in forwarded_for]


def test_a_forged_forwarded_for_from_loopback_does_not_escape_the_limit(embedded: ServiceContext) -> None:
    with _serve(_limited(embedded, "")) as url:
        codes = _statuses(url, [f"203.0.113.{i}" for i in range(_LIMIT + 3)])
    assert codes[_LIMIT:] == [429, 429, 429], codes


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(embedded: ServiceContext) -> None:
    with _serve(_limited(embedded, "127.0.0.1")) as url:
        distinct = _statuses(url, [f"198.51.100.{i}" for i in range(_LIMIT + 3)])
        same = _statuses(url, ["192.0.2.7"] * (_LIMIT + 1))
    assert 429 not in distinct, distinct
    assert same[-1] == 429, same


def test_trusted_proxies_must_be_addresses_or_networks() -> None:
    assert load_settings(trusted_proxies="10.0.0.5, 10.1.0.0/16").trusted_proxy_list == ["10.0.0.5", "10.1.0.0/16"]
    with pytest.raises(ConfigurationError) as info:
        load_settings(trusted_proxies="10.0.0.5,proxy.example")
    assert "proxy.example" in info.value.message
