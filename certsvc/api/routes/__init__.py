"""Every API router, in the order they are mounted. Add a feature's router here."""

from __future__ import annotations

from fastapi import APIRouter

from certsvc.api.routes import (
    admin,
    batches,
    catalogue,
    certificates,
    holder,
    lifecycle,
    matters,
    pki,
    qr,
    seals,
    sharing,
    stats,
    templates,
    trust,
    tsa,
    verification,
    webhooks,
)
from certsvc.api.web import gallery, pages

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    certificates.router,
    verification.router,
    templates.router,  # public: licence templates, their schemas and previews
    qr.public_router,  # public: QR verification
    trust.public_router,  # public: signed issuer key list
    lifecycle.router,
    admin.router,  # operators
    webhooks.router,  # operators: webhook endpoints and their delivery log
    holder.router,  # holders (identity-provider token)
    sharing.router,  # receiving departments
    stats.router,  # programme figures (operators)
    batches.router,  # batch jobs (operators)
    catalogue.public_router,  # public: the licence catalogue (GB/T 36902)
    matters.router,  # the matter register (operators) and the window's materials (sharing)
    seals.router,  # seal coverage (operators)
    tsa.router,  # RFC 3161 time-stamping (timestamping clients)
    pki.public_router,  # public: CRL and OCSP of the seal CAs
    pages.public_router,  # public: the /v/... verification pages the QR codes open
    gallery.gallery_router,  # public: the template gallery pages
)
