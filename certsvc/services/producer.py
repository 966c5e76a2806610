"""The licence producer: (record, identifier, seal, reason) → one stored version.

Every version of every licence is made here — issuance, amendment and re-issue, batch import
(through issuance) and batch re-signing — so they cannot drift apart: one key lookup, one
signed QR payload, one render, then each output format makes and stores its file.

An output format is one entry of ``FORMATS``: the electronic PDF (sealed with the department's
signature) and the print PDF (the seal image drawn on the page). A new format (OFD) is one more
class with a ``produce(work)`` method and one more entry; the services do not change.

Nothing here opens a transaction: the caller reads what it needs before, and writes the
version row (``ProducedVersion.version_columns``) after.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from certsvc.crypto import api as crypto
from certsvc.domain.layout import SealBox
from certsvc.domain.licence import LicenceRecord
from certsvc.metrics import SEAL_SECONDS, SEALS
from certsvc.rendering.renderer import LicenceContent, RenderedLicence, render_licence
from certsvc.rendering.templates import LicenceTemplate
from certsvc.services.context import LoadedSeal, ServiceContext
from certsvc.services.ofd_versions import OfdProducer, OfdVersion, ofd_sealable
from certsvc.services.qr import signed_qr_text
from certsvc.services.timestamping import ltv_stamper, validation_data
from certsvc.storage.orm import Seal

__all__ = [
    "FORMATS",
    "ElectronicPdf",
    "LicenceProducer",
    "OfdFormat",
    "OutputFormat",
    "PrintPdf",
    "ProducedFile",
    "ProducedVersion",
    "Production",
    "SealSnapshot",
    "StoredRender",
    "VersionSpec",
    "box_from_json",
    "box_to_json",
    "render_record",
    "verification_url",
]


# Blob writes of versions being produced (a few per version, across the process's requests).
_BLOB_WRITERS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="certsvc-blob-write")


def verification_url(public_url: str, identifier: str) -> str:
    """The plain verification URL of a version (the QR text of a preview, which is not signed)."""
    return f"{public_url.rstrip('/')}/v/{identifier}"


def box_to_json(box: SealBox) -> list[float]:
    return [box.page_index, box.x1, box.y1, box.x2, box.y2]


def box_from_json(data: Sequence[float]) -> SealBox:
    return SealBox(int(data[0]), float(data[1]), float(data[2]), float(data[3]), float(data[4]))


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
class StoredRender:
    """Files of an existing version that re-signing reuses instead of rendering again.

    The unsigned electronic render is sealed again as stored (the page, its identifier and its
    metadata stay byte for byte), and the print copy is kept while it shows the same seal image.
    """

    unsigned_sha256: str
    print_sha256: str
    seal_box: SealBox
    seal_image_sha256: str  # the image the stored print copy shows
    ofd: OfdVersion | None = None  # the version's OFD, when its seal was SM2


@dataclass(frozen=True)
class VersionSpec:
    """What one version is made from."""

    template: LicenceTemplate
    record: LicenceRecord
    identifier: str  # this version's GB/T 36904 identifier
    issued_on: date  # the date the version's page prints
    seal: SealSnapshot
    signed_at: datetime
    reason: str  # the signature's /Reason
    reuse: StoredRender | None = None  # set by re-signing
    # False: the re-signed file's increment is flushed later, with its batch's others
    # (``BlobStore.sync``); the caller syncs it before recording the version.
    is_synced: bool = True


@dataclass(frozen=True, slots=True)
class ProducedFile:
    """One stored output of a version."""

    format: str
    sha256: str
    unsigned_sha256: str | None = None  # a sealed format: the render before the seal
    seal_box: SealBox | None = None  # a sealed format: where the visible seal sits
    ses_signature_der: bytes | None = None  # GB/T 38540 SES_Signature (SM2 seals)
    ofd: OfdVersion | None = None  # the OFD format: its sealed and unsealed files and seal box


@dataclass(frozen=True)
class ProducedVersion:
    """Every file of a new version, stored; ready to be recorded."""

    seal_id: int
    signed_at: datetime
    files: Mapping[str, ProducedFile]
    # SHA-256 of the certificate of the key that sealed this version: the audit log names the
    # key by it, so a rotated, replaced or compromised key's uses can be listed.
    signing_certificate_sha256: str = ""

    @property
    def audit_details(self) -> dict[str, object]:
        """What every audit event of a new sealed version says about how it was sealed."""
        return {
            "seal_id": self.seal_id,
            "sha256": self.signed_sha256,
            "signing_certificate_sha256": self.signing_certificate_sha256,
        }

    @property
    def electronic(self) -> ProducedFile:
        return self.files[ElectronicPdf.name]

    @property
    def signed_sha256(self) -> str:
        return self.electronic.sha256

    @property
    def print_sha256(self) -> str:
        return self.files[PrintPdf.name].sha256

    @property
    def unsigned_sha256(self) -> str:
        unsigned = self.electronic.unsigned_sha256
        assert unsigned is not None  # the electronic format always keeps its unsigned render
        return unsigned

    @property
    def seal_box(self) -> SealBox:
        box = self.electronic.seal_box
        assert box is not None
        return box

    @property
    def ses_signature_der(self) -> bytes | None:
        return self.electronic.ses_signature_der

    @property
    def ofd(self) -> OfdVersion | None:
        """The sealed OFD, for SM2 seals only (``services/ofd_versions.py``)."""
        produced = self.files.get(OfdFormat.name)
        return produced.ofd if produced is not None else None

    def version_columns(self) -> dict[str, object]:
        """The columns of a ``certificate_versions`` row that describe the files."""
        return {
            "sha256": self.signed_sha256,
            "print_sha256": self.print_sha256,
            "unsigned_sha256": self.unsigned_sha256,
            "seal_box": box_to_json(self.seal_box),
            "seal_id": self.seal_id,
            "signed_at": self.signed_at,
            "ses_signature_der": self.ses_signature_der,
        }


def render_record(
    template: LicenceTemplate,
    record: LicenceRecord,
    *,
    identifier: str,
    issued_on: date,
    qr_text: str,
    seal_image_png: bytes,
) -> RenderedLicence:
    """Render one version of ``record`` (both PDF variants from one layout pass).

    Raises:
        ValidationFailedError, RenderingError: as for ``render_licence``.
    """
    content = LicenceContent(
        record=record, identifier=identifier, issued_on=issued_on, verify_url=qr_text
    )
    return render_licence(template, content, seal_image_png=seal_image_png)


@dataclass
class Production:
    """The working state of one ``produce`` call, shared by its output formats.

    The QR text and the render are made on first use, once, whoever asks first.
    """

    ctx: ServiceContext
    spec: VersionSpec
    signer: LoadedSeal
    _qr_text: str | None = field(default=None, repr=False)
    _rendered: RenderedLicence | None = field(default=None, repr=False)
    _writes: list[Future[str]] = field(default_factory=list, repr=False)

    def qr_text(self) -> str:
        """The QR code's text: the verification URL and a payload signed with the seal key."""
        if self._qr_text is None:
            spec = self.spec
            self._qr_text = signed_qr_text(
                self.ctx.settings.public_url,
                spec.record,
                identifier=spec.identifier,
                issued_on=spec.issued_on,
                key=self.signer.key,
            )
        return self._qr_text

    def content(self) -> LicenceContent:
        """What every format's page shows: the record, this version's identifier, the QR text."""
        spec = self.spec
        return LicenceContent(
            record=spec.record,
            identifier=spec.identifier,
            issued_on=spec.issued_on,
            verify_url=self.qr_text(),
        )

    def rendered(self) -> RenderedLicence:
        if self._rendered is None:
            spec = self.spec
            self._rendered = render_record(
                spec.template,
                spec.record,
                identifier=spec.identifier,
                issued_on=spec.issued_on,
                qr_text=self.qr_text(),
                seal_image_png=self.ctx.blobs.get(spec.seal.image_sha256),
            )
        return self._rendered

    def store(self, data: bytes) -> str:
        """Start writing a file to the blob store; its SHA-256 (``wait_stored`` waits for it).

        The writes of one version run beside each other and beside the sealing that follows:
        each ends in an fsync, and fsyncs in flight together cost about one.
        """
        digest = crypto.sha256(data)
        self._writes.append(_BLOB_WRITERS.submit(self.ctx.blobs.put, data))
        return digest

    def wait_stored(self, *, quiet: bool = False) -> None:
        """Return once every started write has ended; raise the first one's error unless ``quiet``."""
        for write in self._writes:
            try:
                write.result()
            except Exception:
                if not quiet:
                    raise

    def seal_pdf(self, unsigned: bytes, box: SealBox) -> tuple[bytes, bytes | None]:
        """The signed PDF, and the GB/T 38540 ``SES_Signature`` over it for an SM2 seal."""
        spec = self.spec
        level = self.ctx.settings.pades_level
        stamped = spec.seal.ses_seal_der is not None and level != "B-B"
        transport = self.ctx.timestamp_transport(spec.seal.algorithm) if stamped else None
        # The key signs under its own lock; the TSA round trips here hold nothing.
        signed = self.signer.sealer.seal(
            unsigned,
            box=box,
            department_name=spec.record.issuer.name,
            signed_at=spec.signed_at,
            reason=spec.reason,
        )
        ses_signature = None
        if spec.seal.ses_seal_der is not None:
            ses_signature = crypto.sign_pdf_ranges(
                signed,
                seal_der=spec.seal.ses_seal_der,
                key=self.signer.key,
                signed_at=spec.signed_at,
                # GB/T 38540 timeStamp: the same (SM2) TSA as the PDF signature's.
                timestamp_transport=transport,
            )
        if level in ("B-LT", "B-LTA"):
            data = validation_data(
                self.ctx, algorithm=spec.seal.algorithm, certificate_der=spec.seal.certificate_der,
                chain_der=spec.seal.chain_der,
            )  # fmt: skip
            signed = ltv_stamper(self.ctx, spec.seal.algorithm).extend(
                signed, data, with_timestamp=level == "B-LTA"
            )
        return signed, ses_signature


class OutputFormat(Protocol):
    """One kind of file every version gets."""

    name: str

    def produce(self, work: Production) -> ProducedFile | None:
        """Make and store this format's file of the version ``work.spec`` describes (``None``:
        this format does not apply to the version, e.g. an OFD for a non-SM2 seal)."""
        ...


class ElectronicPdf:
    """The electronic PDF: rendered with an empty seal box, then sealed (PAdES / GB/T 38540)."""

    name = "electronic"

    def produce(self, work: Production) -> ProducedFile:
        reuse = work.spec.reuse
        if reuse is not None:
            # Seal the stored render again: a clean file, not a signature on a signature.
            unsigned_sha, box = reuse.unsigned_sha256, reuse.seal_box
            unsigned = work.ctx.blobs.get(unsigned_sha)
        else:
            rendered = work.rendered()
            unsigned, box = rendered.electronic_pdf, rendered.seal_box
            unsigned_sha = work.store(unsigned)
        signed, ses_signature = work.seal_pdf(unsigned, box)
        if reuse is not None and work.ctx.settings.resign_storage == "increment":
            # Every version of a licence shares its unsigned render: store only what sealing
            # appended (the file is rebuilt and hash-checked on read, storage/blobs.py).
            signed_sha = work.ctx.blobs.put_increment(
                signed, base=unsigned, base_sha256=unsigned_sha, sync=work.spec.is_synced
            )
        else:
            signed_sha = work.store(signed)
        return ProducedFile(
            format=self.name,
            sha256=signed_sha,
            unsigned_sha256=unsigned_sha,
            seal_box=box,
            ses_signature_der=ses_signature,
        )


class PrintPdf:
    """The print copy: the same page with the seal image drawn in the seal box, marked 打印件."""

    name = "print"

    def produce(self, work: Production) -> ProducedFile:
        reuse = work.spec.reuse
        if reuse is not None and reuse.seal_image_sha256 == work.spec.seal.image_sha256:
            return ProducedFile(format=self.name, sha256=reuse.print_sha256)
        # Paper cannot carry a signature: a new seal image means a new print copy.
        return ProducedFile(format=self.name, sha256=work.store(work.rendered().print_pdf))


class OfdFormat:
    """The OFD (GB/T 33190) with a GB/T 38540 seal, for SM2 seals only (``services/ofd_versions.py``)."""

    name = "ofd"

    def produce(self, work: Production) -> ProducedFile | None:
        spec = work.spec
        if not ofd_sealable(spec.seal.algorithm, spec.seal.ses_seal_der):
            return None  # decided before ``work.content()``, which signs the QR payload
        producer = OfdProducer(work.ctx)
        if spec.reuse is not None and spec.reuse.ofd is not None:
            ofd = producer.reseal(
                spec.reuse.ofd,
                seal=spec.seal,
                ses_seal_der=spec.seal.ses_seal_der,
                signed_at=spec.signed_at,
            )
        else:
            # A new version, or an SM2 seal replacing an ECDSA/RSA one (the version had no OFD).
            ofd = producer.render_and_seal(
                spec.template,
                work.content(),
                seal=spec.seal,
                ses_seal_der=spec.seal.ses_seal_der,
                signed_at=spec.signed_at,
            )
        if ofd is None:
            return None
        return ProducedFile(
            format=self.name, sha256=ofd.sha256, unsigned_sha256=ofd.unsigned_sha256, ofd=ofd
        )


FORMATS: tuple[OutputFormat, ...] = (ElectronicPdf(), PrintPdf(), OfdFormat())


class LicenceProducer:
    """Makes and stores every file of a new licence version."""

    def __init__(self, ctx: ServiceContext, *, formats: Sequence[OutputFormat] = FORMATS) -> None:
        self.ctx = ctx
        self.formats = tuple(formats)

    def produce(self, spec: VersionSpec) -> ProducedVersion:
        """Sign the QR payload, render, seal and store every output format of ``spec``.

        Raises:
            KeyUnavailableError, SigningError: the seal could not be applied.
            ValidationFailedError, RenderingError: the record does not fit the template's page.
        """
        started = time.perf_counter()
        work = Production(ctx=self.ctx, spec=spec, signer=self.ctx.loaded_seal(spec.seal))
        files = {}
        try:
            for output in self.formats:
                produced = output.produce(work)
                if produced is not None:
                    files[output.name] = produced
        except BaseException:
            work.wait_stored(quiet=True)  # no write outlives a failed version unwatched
            raise
        # Nothing is recorded before its bytes are synced: the caller writes the version row
        # only after this returns.
        work.wait_stored()
        SEALS.labels(algorithm=spec.seal.algorithm).inc()
        SEAL_SECONDS.labels(algorithm=spec.seal.algorithm).observe(time.perf_counter() - started)
        return ProducedVersion(
            seal_id=spec.seal.id, signed_at=spec.signed_at, files=files,
            signing_certificate_sha256=crypto.sha256(work.signer.key.certificate_der),
        )  # fmt: skip
