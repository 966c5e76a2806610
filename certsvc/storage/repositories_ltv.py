"""Queries for archival renewals (never commit)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from certsvc.storage.orm import Certificate, CertificateVersion, Seal
from certsvc.storage.orm_ltv import LtvRenewal

__all__ = ["LtvRenewalRepository", "RenewalTarget"]


@dataclass(frozen=True, slots=True)
class RenewalTarget:
    """The current version of a licence, and the newest file of it (renewed or as issued)."""

    certificate_id: int
    identifier: str
    status: str
    version: int
    file_sha256: str
    seal_algorithm: str
    seal_certificate_der: bytes
    seal_chain_der: tuple[str, ...]  # base64, seal CA first


class LtvRenewalRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def targets(
        self, *, department_id: int | None = None, after_id: int = 0, limit: int = 500
    ) -> list[RenewalTarget]:
        """A page of current versions (by licence id), each with its newest file."""
        query = (
            select(Certificate.id, Certificate.identifier, Certificate.status, CertificateVersion.version,
                   CertificateVersion.sha256, Seal.algorithm, Seal.certificate_der, Seal.chain_der)
            .join(CertificateVersion, and_(CertificateVersion.certificate_id == Certificate.id,
                                           CertificateVersion.version == Certificate.current_version))
            .join(Seal, Seal.id == CertificateVersion.seal_id)
            .where(Certificate.id > after_id)
            .order_by(Certificate.id)
            .limit(limit)
        )  # fmt: skip
        if department_id is not None:
            query = query.where(Certificate.department_id == department_id)
        rows = self.session.execute(query).all()
        newest = self.newest_files([(int(r[0]), int(r[3])) for r in rows])
        return [
            RenewalTarget(
                certificate_id=int(r[0]),
                identifier=str(r[1]),
                status=str(r[2]),
                version=int(r[3]),
                file_sha256=newest.get((int(r[0]), int(r[3])), str(r[4])),
                seal_algorithm=str(r[5]),
                seal_certificate_der=bytes(r[6]),
                seal_chain_der=tuple(r[7] or ()),
            )
            for r in rows
        ]

    def target(self, certificate_id: int) -> RenewalTarget | None:
        found = self.targets(after_id=certificate_id - 1, limit=1)
        return found[0] if found and found[0].certificate_id == certificate_id else None

    def newest_files(self, versions: Sequence[tuple[int, int]]) -> dict[tuple[int, int], str]:
        """(licence id, version) → SHA-256 of its newest renewed file, for those renewed."""
        if not versions:
            return {}
        ids = sorted({c for c, _ in versions})
        rows = self.session.execute(
            select(LtvRenewal.certificate_id, LtvRenewal.version, LtvRenewal.sha256)
            .where(LtvRenewal.certificate_id.in_(ids))
            .order_by(LtvRenewal.id)
        ).all()
        wanted = set(versions)
        return {
            (int(c), int(v)): str(s) for c, v, s in rows if (int(c), int(v)) in wanted
        }  # the last wins

    def is_renewed_from(self, previous_sha256: str) -> bool:
        return (
            self.session.scalars(
                select(LtvRenewal.id).where(LtvRenewal.previous_sha256 == previous_sha256)
            ).first()
            is not None
        )

    def is_renewed_file(self, sha256: str) -> bool:
        return (
            self.session.scalars(select(LtvRenewal.id).where(LtvRenewal.sha256 == sha256)).first()
            is not None
        )

    def add(self, renewal: LtvRenewal) -> LtvRenewal:
        self.session.add(renewal)
        self.session.flush()
        return renewal

    def each_target(self, *, department_id: int | None = None) -> Iterator[RenewalTarget]:
        after = 0
        while page := self.targets(department_id=department_id, after_id=after):
            yield from page
            after = page[-1].certificate_id
