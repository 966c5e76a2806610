"""PUBLIC (no API key): the signed list of issuer public keys, for offline QR verification."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from starlette.concurrency import run_in_threadpool

from certsvc.api.deps import ContextDep, public
from certsvc.api.ratelimit import public_rate_limit
from certsvc.services.trust import TrustService

__all__ = ["public_router"]

public_router = APIRouter(
    prefix="/api/v1",
    tags=["public: trust list"],
    dependencies=[Depends(public), Depends(public_rate_limit)],
)


@public_router.get("/trust/keys")
async def trust_keys(ctx: ContextDep) -> dict[str, Any]:
    """Every QR signing key (key id, algorithm, department, validity, revoked or not), signed.

    The document is JSON; ``signature`` is ECDSA P-256 (raw r||s, base64) over the canonical
    JSON of everything else (sorted keys, no spaces, UTF-8), by the first certificate of
    ``signer.chain``. See docs/qr.md.
    """
    return await run_in_threadpool(TrustService(ctx).signed_document)
