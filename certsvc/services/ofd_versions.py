"""The OFD output of a licence version: render from the same plan as the PDF, seal, store.

Policy for the seal algorithm: GB/T 38540 seals are SM2, and an OFD without its seal would be a
licence-shaped file that no platform may accept. So a version sealed with an SM2 seal (one that
has its GB/T 38540 ``SESeal``) gets a sealed OFD; a version sealed with an ECDSA or RSA seal gets
none, and asking for its OFD is refused with ``ofd_needs_sm2_seal`` (409) — never an unsealed OFD.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from certsvc.crypto import api as crypto
from certsvc.errors import ConflictError
from certsvc.rendering.ofd import render_ofd
from certsvc.rendering.renderer import LicenceContent
from certsvc.rendering.templates import LicenceTemplate
from certsvc.services.context import SealLike, ServiceContext
from certsvc.storage.orm_ofd import CertificateOfd
from certsvc.storage.repositories_ofd import OfdRepository, insert_ofd

__all__ = [
    "OFD_NEEDS_SM2_SEAL",
    "OfdProducer",
    "OfdVersion",
    "ofd_sealable",
    "record_ofd",
    "require_ofd",
    "stored_ofd",
]

OFD_NEEDS_SM2_SEAL = "ofd_needs_sm2_seal"


@dataclass(frozen=True, slots=True)
class OfdVersion:
    sha256: str  # the sealed OFD
    unsigned_sha256: str
    seal_box: tuple[float, float, float, float, float]  # page, x, y, width, height (mm, top-left)


def ofd_sealable(algorithm: str, ses_seal_der: bytes | None) -> bool:
    """Whether a seal can seal an OFD: an SM2 key with its GB/T 38540 ``SESeal``."""
    return algorithm == crypto.KeyAlgorithm.SM2.value and ses_seal_der is not None


def _sealable(seal: SealLike, ses_seal_der: bytes | None) -> bool:
    return ofd_sealable(seal.algorithm, ses_seal_der)


class OfdProducer:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def render_and_seal(
        self,
        template: LicenceTemplate,
        content: LicenceContent,
        *,
        seal: SealLike,
        ses_seal_der: bytes | None,
        signed_at: datetime,
    ) -> OfdVersion | None:
        """Render and seal the OFD of a version; ``None`` for a seal that is not SM2.

        Raises:
            ValidationFailedError, RenderingError: as for the PDF (the same plan).
            KeyUnavailableError, SigningError: the seal could not be applied.
        """
        if not _sealable(seal, ses_seal_der):
            return None
        rendered = render_ofd(template, content)
        unsigned_sha = self.ctx.blobs.put(rendered.data)
        box = (float(rendered.seal_page), *rendered.seal_box)
        return self._seal(
            rendered.data,
            unsigned_sha,
            box,
            seal=seal,
            ses_seal_der=ses_seal_der,
            signed_at=signed_at,
        )

    def reseal(
        self, source: OfdVersion, *, seal: SealLike, ses_seal_der: bytes | None, signed_at: datetime
    ) -> OfdVersion | None:
        """Seal a stored unsealed OFD again with another seal (batch re-signing)."""
        if not _sealable(seal, ses_seal_der):
            return None
        unsigned = self.ctx.blobs.get(source.unsigned_sha256)
        return self._seal(
            unsigned,
            source.unsigned_sha256,
            source.seal_box,
            seal=seal,
            ses_seal_der=ses_seal_der,
            signed_at=signed_at,
        )

    def _seal(
        self,
        unsigned: bytes,
        unsigned_sha: str,
        box: tuple[float, float, float, float, float],
        *,
        seal: SealLike,
        ses_seal_der: bytes | None,
        signed_at: datetime,
    ) -> OfdVersion:
        assert ses_seal_der is not None  # checked by _sealable
        loaded = self.ctx.loaded_seal(seal)
        transport = self.ctx.timestamp_transport(seal.algorithm)
        # The key signs under its own lock; the TSA round trip holds nothing.
        sealed = crypto.seal_ofd(
            unsigned,
            seal_der=ses_seal_der,
            key=loaded.key,
            certificate_der=seal.certificate_der,
            signed_at=signed_at,
            page_index=int(box[0]),
            boundary_mm=(box[1], box[2], box[3], box[4]),
            # GB/T 38540 timeStamp: the same (SM2) TSA as the PDF's seal data.
            timestamp_transport=transport,
        )
        return OfdVersion(
            sha256=self.ctx.blobs.put(sealed), unsigned_sha256=unsigned_sha, seal_box=box
        )


def record_ofd(
    session: Session, *, certificate_id: int, version: int, ofd: OfdVersion | None
) -> None:
    """Store the OFD of a version in the caller's write transaction (nothing for ``None``)."""
    if ofd is None:
        return
    insert_ofd(
        session,
        {
            "certificate_id": certificate_id,
            "version": version,
            "sha256": ofd.sha256,
            "unsigned_sha256": ofd.unsigned_sha256,
            "seal_box": list(ofd.seal_box),
        },
    )


def stored_ofd(session: Session, certificate_id: int, version: int) -> OfdVersion | None:
    row = OfdRepository(session).for_version(certificate_id, version)
    return None if row is None else _of(row)


def require_ofd(session: Session, certificate_id: int, version: int) -> OfdVersion:
    """The OFD of a stored version.

    Raises:
        ConflictError: ``ofd_needs_sm2_seal`` — that version was sealed with an ECDSA/RSA seal.
    """
    found = stored_ofd(session, certificate_id, version)
    if found is None:
        raise ConflictError(
            "this licence version was sealed with an ECDSA or RSA seal; an OFD licence needs a "
            "GB/T 38540 (SM2) seal, so none was made",
            code=OFD_NEEDS_SM2_SEAL,
        )
    return found


def _of(row: CertificateOfd) -> OfdVersion:
    page, x, y, w, h = (float(v) for v in row.seal_box)
    return OfdVersion(
        sha256=row.sha256, unsigned_sha256=row.unsigned_sha256, seal_box=(page, x, y, w, h)
    )
