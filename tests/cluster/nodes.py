"""What one node does in the concurrency tests: each function runs in a process of its own."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from certsvc.jobs.api import claim_items, new_token
from certsvc.services.audit import append_audit_event
from certsvc.services.issuance import IssuanceService
from certsvc.services.principals import authenticate
from certsvc.services.requests import IssueRequest
from certsvc.services.webhooks import WebhookService
from certsvc.storage.repositories import SerialRepository
from tests.cluster.parallel import NodeSettings, node_context, node_database

__all__ = ["allocate_serials", "append_audit_events", "claim_until_empty", "deliver_pending", "issue"]


def allocate_serials(node: NodeSettings, department_id: int, count: int) -> list[int]:
    database = node_database(node)
    got = []
    for _ in range(count):
        with database.transaction() as session:
            got.append(SerialRepository(session).next_value(department_id=department_id, type_code="T", year=2026))
    database.dispose()
    return got


def issue(node: NodeSettings, api_key: str, request: dict[str, Any], count: int, idempotency_key: str | None) -> list[str]:
    ctx = node_context(node)
    with ctx.database.read() as session:
        principal = authenticate(session, api_key, now=ctx.clock.now())
    service = IssuanceService(ctx)
    identifiers = [
        service.issue(IssueRequest.model_validate(request), principal=principal, idempotency_key=idempotency_key).identifier
        for _ in range(count)
    ]
    ctx.database.dispose()
    return identifiers


def append_audit_events(node: NodeSettings, count: int, prefix: str) -> int:
    database = node_database(node)
    for i in range(count):
        with database.transaction() as session:
            append_audit_event(
                session, at=datetime.now(UTC), actor=None, action="test.parallel", target=f"{prefix}-{i}", details={"i": i}
            )
    database.dispose()
    return count


def claim_until_empty(node: NodeSettings, job_id: int, runner_id: str, limit: int) -> list[int]:
    database = node_database(node)
    claimed: list[int] = []
    while True:
        items = claim_items(database, job_id, runner_id=runner_id, token=new_token(), limit=limit, now=datetime.now(UTC))
        if not items:
            break
        claimed += [item.id for item in items]
        time.sleep(0.001)  # as if the items were worked on: let the other claimers interleave
    database.dispose()
    return claimed


def deliver_pending(node: NodeSettings) -> int:
    ctx = node_context(node)
    attempted = WebhookService(ctx).deliver_pending()
    ctx.database.dispose()
    return attempted
