"""Queries on the OFD files of licence versions (never commit)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from certsvc.storage.orm_ofd import CertificateOfd

__all__ = ["OfdRepository", "insert_ofd"]

_INSERT_OFD = insert(CertificateOfd)


class OfdRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: CertificateOfd) -> CertificateOfd:
        self.session.add(row)
        return row

    def for_version(self, certificate_id: int, version: int) -> CertificateOfd | None:
        return self.session.scalar(
            select(CertificateOfd).where(
                CertificateOfd.certificate_id == certificate_id, CertificateOfd.version == version
            )
        )

    def by_sha256(self, sha256: str) -> CertificateOfd | None:
        return self.session.scalar(
            select(CertificateOfd).where(CertificateOfd.sha256 == sha256).limit(1)
        )


def insert_ofd(session: Session, row: dict[str, Any]) -> None:
    """Insert one OFD row from a plain dict (batch items write without the ORM unit of work)."""
    session.connection().execute(_INSERT_OFD, row)
