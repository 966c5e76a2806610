"""The queries batch re-signing runs: the licences a re-sign job selects, the rows an item reads,
and the version writes of its transaction. Repositories never commit."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlalchemy.orm import Session, aliased

from certsvc.storage.orm import (
    Certificate,
    CertificateVersion,
    Department,
    Seal,
)

__all__ = [
    "ResignRow",
    "bump_current_version",
    "insert_version",
    "resign_candidates",
    "resign_rows",
]


def _resign_candidates_query(
    *,
    department_id: int,
    template: str | None,
    from_seal_id: int | None,
    issued_before: datetime | None,
) -> Any:
    query = select(Certificate.id, Certificate.identifier).where(
        Certificate.department_id == department_id
    )
    if template is not None:
        query = query.where(Certificate.template == template)
    if issued_before is not None:
        query = query.where(Certificate.issued_at < issued_before)
    if from_seal_id is not None:
        query = query.join(
            CertificateVersion,
            (CertificateVersion.certificate_id == Certificate.id)
            & (CertificateVersion.version == Certificate.current_version),
        ).where(CertificateVersion.seal_id == from_seal_id)
    return query.order_by(Certificate.id)


def resign_candidates(
    session: Session,
    *,
    department_id: int,
    template: str | None = None,
    from_seal_id: int | None = None,
    issued_before: datetime | None = None,
) -> Iterator[tuple[int, str]]:
    """(certificate id, identifier) of every licence a re-sign job matches, streamed."""
    query = _resign_candidates_query(
        department_id=department_id,
        template=template,
        from_seal_id=from_seal_id,
        issued_before=issued_before,
    )
    for cert_id, identifier in session.execute(query.execution_options(yield_per=1000)):
        yield int(cert_id), str(identifier)


@dataclass(frozen=True, slots=True)
class ResignRow:
    """What re-signing needs of a licence and its current version (one joined read)."""

    certificate_id: int
    identifier: str
    status: str
    current_version: int
    version_identifier: str
    version_issued_at: (
        datetime  # when the version's identifier was first signed: its printed issue date
    )
    unsigned_sha256: str
    print_sha256: str
    seal_box: list[float]
    seal_id: int
    seal_image_sha256: str
    template: str
    holder_name: str
    holder_id_type: str
    holder_id: str
    data: dict[str, Any]
    valid_from: date
    valid_until: date
    department_name: str
    department_code: str
    department_area_code: str
    department_name_mn: (
        str | None
    )  # the stored Mongolian name, printed when the department is bilingual
    department_is_bilingual: bool


def resign_rows(session: Session, certificate_ids: Iterable[int]) -> dict[int, ResignRow]:
    """The current state of each listed licence, by id, in one query (absent ids: no entry)."""
    ids = list(certificate_ids)
    if not ids:
        return {}
    first = aliased(CertificateVersion)
    issued_at = (
        select(func.min(first.signed_at))
        .where(
            first.certificate_id == Certificate.id,
            first.identifier == CertificateVersion.identifier,
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(
            Certificate.id,
            Certificate.identifier,
            Certificate.status,
            Certificate.current_version,
            CertificateVersion.identifier,
            issued_at,
            CertificateVersion.unsigned_sha256,
            CertificateVersion.print_sha256,
            CertificateVersion.seal_box,
            CertificateVersion.seal_id,
            Seal.image_sha256,
            Certificate.template,
            Certificate.holder_name,
            Certificate.holder_id_type,
            Certificate.holder_id,
            Certificate.data,
            Certificate.valid_from,
            Certificate.valid_until,
            Department.name,
            Department.code,
            Department.area_code,
            Department.name_mn,
            Department.is_bilingual,
        )
        .join(
            CertificateVersion,
            (CertificateVersion.certificate_id == Certificate.id)
            & (CertificateVersion.version == Certificate.current_version),
        )
        .join(Seal, Seal.id == CertificateVersion.seal_id)
        .join(Department, Department.id == Certificate.department_id)
        .where(Certificate.id.in_(ids))
    ).all()
    return {
        int(r[0]): ResignRow(
            certificate_id=int(r[0]),
            identifier=r[1],
            status=r[2],
            current_version=int(r[3]),
            version_identifier=r[4],
            version_issued_at=r[5],
            unsigned_sha256=r[6],
            print_sha256=r[7],
            seal_box=list(r[8]),
            seal_id=int(r[9]),
            seal_image_sha256=r[10],
            template=r[11],
            holder_name=r[12],
            holder_id_type=r[13],
            holder_id=r[14],
            data=dict(r[15]),
            valid_from=r[16],
            valid_until=r[17],
            department_name=r[18],
            department_code=r[19],
            department_area_code=r[20],
            department_name_mn=r[21],
            department_is_bilingual=bool(r[22]),
        )
        for r in rows
    }


def bump_current_version(
    session: Session, certificate_id: int, *, from_version: int, skip_statuses: Iterable[str]
) -> bool:
    """``current_version`` := ``from_version`` + 1, only if it is still ``from_version`` and the
    licence's status is not one of ``skip_statuses`` (one guarded UPDATE); False otherwise."""
    done = session.connection().execute(
        _BUMP_VERSION,
        {
            "certificate_id": certificate_id,
            "from_version": from_version,
            "to_version": from_version + 1,
            "skip": list(skip_statuses),
        },
    )
    return bool(done.rowcount)


def insert_version(session: Session, row: dict[str, Any]) -> None:
    """Insert one certificate version from a plain dict (no ORM object in the session)."""
    session.connection().execute(_INSERT_VERSION, row)


# The version writes of an item's transaction, built once: they run under the write lock, as
# Core statements on the session's connection (no ORM bookkeeping, compiled once).
_BUMP_VERSION = (
    update(Certificate)
    .where(
        Certificate.id == bindparam("certificate_id"),
        Certificate.current_version == bindparam("from_version"),
        Certificate.status.not_in(bindparam("skip", expanding=True)),
    )
    .values(current_version=bindparam("to_version"))
)
_INSERT_VERSION = insert(CertificateVersion)
