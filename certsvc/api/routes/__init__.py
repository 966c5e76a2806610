"""Every API router, in the order they are mounted. Add a feature's router here."""

from __future__ import annotations

from fastapi import APIRouter

from certsvc.api.routes import certificates, verification

__all__ = ["ROUTERS"]

ROUTERS: tuple[APIRouter, ...] = (
    certificates.router,
    verification.router,
)
