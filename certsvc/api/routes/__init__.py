"""Every API router, in the order they are mounted. Add a feature's router here."""

from __future__ import annotations

from fastapi import APIRouter

from certsvc.api.routes import (
    admin,
    batches,
    certificates,
    holder,
    lifecycle,
    qr,
    sharing,
    stats,
    trust,
    tsa,
    verification,
)
from certsvc.api.web import pages

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    certificates.router,
    verification.router,
    qr.public_router,  # public: QR verification (issue 6)
    trust.public_router,  # public: signed issuer key list (issue 6)
    lifecycle.router,  # issue 5
    admin.router,  # issue 5: operators
    holder.router,  # issue 8: holders (identity-provider token)
    sharing.router,  # issue 8: receiving departments
    stats.router,  # issue 8: programme figures (operators)
    batches.router,  # issue 7: batch jobs (operators)
    tsa.router,  # RFC 3161 time-stamping (timestamping clients)
    pages.public_router,  # public: the /v/... verification pages the QR codes open
)
