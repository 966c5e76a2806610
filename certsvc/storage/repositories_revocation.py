"""Queries on seal revocations (never commit)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from certsvc.storage.orm import Seal
from certsvc.storage.orm_revocation import SealRevocation

__all__ = ["SealRevocationRepository"]


class SealRevocationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, revocation: SealRevocation) -> SealRevocation:
        self.session.add(revocation)
        self.session.flush()
        return revocation

    def by_seal(self, seal_id: int) -> SealRevocation | None:
        return self.session.scalars(
            select(SealRevocation).where(SealRevocation.seal_id == seal_id)
        ).first()

    def by_certificate(self, certificate_sha256: str) -> SealRevocation | None:
        return self.session.scalars(
            select(SealRevocation).where(SealRevocation.certificate_sha256 == certificate_sha256)
        ).first()

    def by_certificates(self, certificate_sha256s: Sequence[str]) -> dict[str, SealRevocation]:
        if not certificate_sha256s:
            return {}
        rows = self.session.scalars(
            select(SealRevocation).where(
                SealRevocation.certificate_sha256.in_(list(certificate_sha256s))
            )
        ).all()
        return {r.certificate_sha256: r for r in rows}

    def issued_by(self, issuer_sha256: str) -> Sequence[SealRevocation]:
        return self.session.scalars(
            select(SealRevocation)
            .where(SealRevocation.issuer_sha256 == issuer_sha256)
            .order_by(SealRevocation.id)
        ).all()

    def seals(self) -> Sequence[Seal]:
        """Every seal (few per department): OCSP finds the one with a requested serial."""
        return self.session.scalars(select(Seal).order_by(Seal.id)).all()
