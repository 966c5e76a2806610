"""Producing a signed file version: render (or reuse a render) → seal → store the blobs.

Shared by issuance, the lifecycle (amend, reissue) and batch re-signing, so every version of
every licence is made the same way.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from datetime import datetime

from certsvc.crypto import api as crypto
from certsvc.domain.layout import SealBox
from certsvc.rendering.renderer import LicenceContent, render_licence
from certsvc.rendering.templates import LicenceTemplate
from certsvc.services.context import ServiceContext
from certsvc.services.ofd_versions import OfdProducer, OfdVersion
from certsvc.storage.orm import Seal

__all__ = ["ProducedVersion", "SealSnapshot", "VersionProducer", "box_from_json", "box_to_json"]


@dataclass(frozen=True)
class SealSnapshot:
    """What sealing needs of a seal row, usable after its transaction has ended."""

    id: int
    algorithm: str
    key_ref: str
    certificate_der: bytes
    chain_der: tuple[bytes, ...]
    image_sha256: str
    ses_seal_der: bytes | None

    @classmethod
    def of(cls, seal: Seal) -> SealSnapshot:
        return cls(
            id=seal.id,
            algorithm=seal.algorithm,
            key_ref=seal.key_ref,
            certificate_der=seal.certificate_der,
            chain_der=tuple(base64.b64decode(c) for c in seal.chain_der),
            image_sha256=seal.image_sha256,
            ses_seal_der=seal.ses_seal_der,
        )


@dataclass(frozen=True, slots=True)
class ProducedVersion:
    signed_sha256: str
    print_sha256: str
    unsigned_sha256: str
    seal_box: SealBox
    seal_id: int
    signed_at: datetime
    ses_signature_der: bytes | None  # GB/T 38540 SES_Signature, SM2 seals only
    ofd: OfdVersion | None = None  # the sealed OFD, SM2 seals only (services/ofd_versions.py)


def box_to_json(box: SealBox) -> list[float]:
    return [box.page_index, box.x1, box.y1, box.x2, box.y2]


def box_from_json(data: list[float]) -> SealBox:
    return SealBox(int(data[0]), float(data[1]), float(data[2]), float(data[3]), float(data[4]))


class VersionProducer:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx

    def render_and_seal(
        self,
        template: LicenceTemplate,
        content: LicenceContent,
        *,
        seal: SealSnapshot,
        signed_at: datetime,
        reason: str,
    ) -> ProducedVersion:
        """Render both PDF variants and the OFD from the data, seal the electronic PDF and the
        OFD, store every file."""
        image = self.ctx.blobs.get(seal.image_sha256)
        rendered = render_licence(template, content, seal_image_png=image)
        unsigned_sha = self.ctx.blobs.put(rendered.electronic_pdf)
        print_sha = self.ctx.blobs.put(rendered.print_pdf)
        ofd = OfdProducer(self.ctx).render_and_seal(
            template, content, seal=seal, ses_seal_der=seal.ses_seal_der, signed_at=signed_at
        )
        produced = self._seal_and_store(
            rendered.electronic_pdf,
            unsigned_sha=unsigned_sha,
            print_sha=print_sha,
            box=rendered.seal_box,
            department_name=content.department_name,
            seal=seal,
            signed_at=signed_at,
            reason=reason,
        )
        return replace(produced, ofd=ofd)

    def reseal(
        self,
        *,
        unsigned_sha256: str,
        print_sha256: str,
        box: SealBox,
        department_name: str,
        seal: SealSnapshot,
        signed_at: datetime,
        reason: str,
        ofd_source: OfdVersion | None = None,
    ) -> ProducedVersion:
        """Seal a stored unsigned render again (a clean file, not a signature on a signature);
        the stored unsealed OFD too, when the version has one and the new seal is SM2."""
        unsigned = self.ctx.blobs.get(unsigned_sha256)
        ofd = None
        if ofd_source is not None:
            ofd = OfdProducer(self.ctx).reseal(ofd_source, seal=seal, ses_seal_der=seal.ses_seal_der, signed_at=signed_at)
        produced = self._seal_and_store(
            unsigned,
            unsigned_sha=unsigned_sha256,
            print_sha=print_sha256,
            box=box,
            department_name=department_name,
            seal=seal,
            signed_at=signed_at,
            reason=reason,
        )
        return replace(produced, ofd=ofd)

    def _seal_and_store(
        self,
        unsigned: bytes,
        *,
        unsigned_sha: str,
        print_sha: str,
        box: SealBox,
        department_name: str,
        seal: SealSnapshot,
        signed_at: datetime,
        reason: str,
    ) -> ProducedVersion:
        loaded = self.ctx.loaded_seal(seal)
        transport = self.ctx.timestamp_transport(seal.algorithm)
        with loaded.lock:
            signed = loaded.sealer.seal(
                unsigned, box=box, department_name=department_name, signed_at=signed_at, reason=reason
            )
            ses_signature = None
            if seal.ses_seal_der is not None:
                ses_signature = crypto.sign_pdf_ranges(
                    signed,
                    seal_der=seal.ses_seal_der,
                    key=loaded.key,
                    certificate_der=seal.certificate_der,
                    signed_at=signed_at,
                    # GB/T 38540 timeStamp: the same (SM2) TSA as the PDF signature's.
                    timestamp_transport=transport,
                )
        return ProducedVersion(
            signed_sha256=self.ctx.blobs.put(signed),
            print_sha256=print_sha,
            unsigned_sha256=unsigned_sha,
            seal_box=box,
            seal_id=seal.id,
            signed_at=signed_at,
            ses_signature_der=ses_signature,
        )
