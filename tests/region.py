"""Two deployments in one test process: the shared one as a 盟 member with a hub configured,
and a hub in a home of its own (tests of services/upstream, services/hub*, api/routes/hub)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from certsvc.config import load_settings
from certsvc.services.context import ServiceContext, build_context
from certsvc.services.hub import NewMember
from certsvc.services.upstream import OutboxEntry, UpstreamConnector
from certsvc.storage.repositories import CertificateRepository

__all__ = ["hub", "join", "member_of", "outbox"]


@pytest.fixture
def hub(tmp_path: Path, fresh_database_url: str | None) -> Iterator[ServiceContext]:
    ctx = build_context(load_settings(home=tmp_path / "hub", role="hub", database_url=fresh_database_url))
    yield ctx
    ctx.database.dispose()


@pytest.fixture
def member_of(embedded: ServiceContext) -> Iterator[ServiceContext]:
    """The shared deployment with a hub configured (restored afterwards); delivery is fast."""
    settings = embedded.settings
    names = ("upstream_url", "upstream_credential", "upstream_max_attempts", "upstream_backoff_seconds", "upstream_timeout_seconds")
    saved = {name: getattr(settings, name) for name in names}
    settings.upstream_url = "http://127.0.0.1:9"  # discard port: nothing answers until a test says so
    settings.upstream_credential = SecretStr("chm_0_" + "x" * 40)
    settings.upstream_backoff_seconds, settings.upstream_timeout_seconds = 0.0, 5.0
    yield embedded
    for name, value in saved.items():
        setattr(settings, name, value)


def join(member: ServiceContext, registered: NewMember) -> None:
    """Give the member the credential the hub printed."""
    member.settings.upstream_credential = SecretStr(registered.credential)


def outbox(ctx: ServiceContext, identifier: str) -> list[OutboxEntry]:
    """The licence's upstream outbox rows, in order."""
    with ctx.database.read() as session:
        cert = CertificateRepository(session).by_identifier(identifier)
        assert cert is not None
        cert_id = cert.id
    return UpstreamConnector(ctx).history(cert_id)
