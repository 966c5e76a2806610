"""Visible electronic seals on PDF: a PAdES B-B signature (RSA/ECDSA) or an
adbe.pkcs7.detached SM2/SM3 signature (GB/T 38540-style CMS, via ``_pyhanko_gm.Sm2Signer``),
with the seal image drawn over the department's name and the signing date.

A :class:`PdfSealer` is built once per seal and reused for every document. Everything that
does not depend on the document is done once, not per document:

* the key is already open (a :class:`SigningKey`), and the pyHanko ``Signer`` wrapping it
  signs with it directly (pyHanko's stock ``SimpleSigner`` re-parses the private key for
  every signature);
* the CMS size is measured once with a dry run, so each ``seal()`` passes ``bytes_reserved``
  and pyHanko never builds a throw-away CMS per document;
* the CMS SignedData is assembled from pre-encoded DER: certificates, signer identifier,
  algorithm identifiers and the static signed attributes are dumped once; per document only
  the message digest (and, for SM2, the signing time) and the signature are encoded.
  pyHanko's generic path re-serialises the whole structure through asn1crypto (~5 ms). The
  fast path is checked against pyHanko's own CMS once, in the constructor, and is only used
  if they agree (see :func:`certsvc.crypto.pdf_cms.cms_shape`);
* the appearance (seal image over name and date, with the embedded CJK font subset) is drawn
  once per (department name, date, box size) and kept as a frozen object graph
  (:mod:`certsvc.crypto._appearance`); per document its pre-encoded objects are copied in, so
  no font is subset or saved and no image is encoded.

The sealer holds no per-document state, so one instance may be used from several threads.
"""

# pyHanko's certificate store constructor is untyped; it is given parsed certificates only.
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import io
import os
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone

from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from certsvc.crypto._appearance import (
    AppearanceTemplate,
    EncodedImage,
    PrebuiltStampStyle,
    build_seal_appearance,
)
from certsvc.crypto.keys import KeyAlgorithm
from certsvc.crypto.pdf_cms import PrebuiltCmsSigner, SealKeySigner, sm2_signer_class
from certsvc.crypto.pdf_incremental import ClockedPdfSigner, SealingWriter
from certsvc.crypto.signing import SigningKey, sm2_signing
from certsvc.crypto.timestamp_client import TimeStampTransport, TransportTimeStamper
from certsvc.domain.layout import SealBox
from certsvc.errors import CertsvcError, InvalidDocumentError, SigningError

__all__ = ["DEFAULT_CJK_FONTS", "PdfSealer"]


# AR PL UMing is a Ming/Song face, the customary type for official documents (GB/T 9704);
# WenQuanYi Zen Hei is the fallback. The first font of each collection is the simplified one.
DEFAULT_CJK_FONTS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)

# China Standard Time has had no DST since 1991: a fixed offset avoids needing tzdata.
_CST = timezone(timedelta(hours=8), "CST")
# Headroom added to the measured CMS size (bytes). ECDSA/SM2 DER signatures vary by a few
# bytes; the dry run uses the maximum length, this covers encoding differences.
_RESERVE_MARGIN = 64
# Extra room when a signature time-stamp is embedded: tokens differ from the measured one in
# genTime digits, serial and nonce lengths, and an outside TSA may add a certificate.
_TIMESTAMP_MARGIN = 512
# Appearances kept per sealer: one per (department, day, box size); old ones are dropped.
_MAX_APPEARANCES = 64


def _load_cert(der: bytes, what: str) -> asn1_x509.Certificate:
    try:
        cert = asn1_x509.Certificate.load(der, strict=True)
        cert["tbs_certificate"]["subject_public_key_info"]
    except (ValueError, TypeError) as exc:
        raise SigningError(f"the {what} is not a DER X.509 certificate") from exc
    return cert


# --- public --------------------------------------------------------------------------------
class PdfSealer:
    """Seals PDFs with one department seal: its signing key (with certificate and chain) + seal image.

    Raises (constructor):
        SigningError: unreadable certificate or image, or a certificate that is not the key's.
    """

    def __init__(
        self,
        *,
        key: SigningKey,
        seal_image_png: bytes,
        font_paths: Sequence[str] = DEFAULT_CJK_FONTS,
        show_text: bool = True,
        timestamp_transport: TimeStampTransport | None = None,
    ) -> None:
        # show_text=False: the appearance is the seal image alone, for pages that already print
        # the department's name and the date where the seal goes (so the electronic and the
        # printed copy look the same).
        # timestamp_transport: every seal then carries a signature time-stamp (PAdES B-T) from
        # the TSA behind it; the TSA is asked once here, to measure the token.
        self._show_text = show_text
        self._timestamper = (
            TransportTimeStamper(timestamp_transport) if timestamp_transport is not None else None
        )
        self._algorithm = key.algorithm
        cert = _load_cert(key.certificate_der, "seal certificate")
        if cert.public_key.dump() != key.public_key_spki_der():
            raise SigningError("the seal certificate does not belong to the seal key")
        chain = [_load_cert(d, "chain certificate") for d in key.chain_der]
        registry = SimpleCertificateStore.from_certs([cert, *chain])

        self._signer: PrebuiltCmsSigner
        if key.algorithm is KeyAlgorithm.SM2:
            self._signer = sm2_signer_class()(
                signing_key=sm2_signing(key), signing_cert=cert, cert_registry=registry
            )
            self._md = "sm3"
            # No PAdES profile for SM2 exists; GB/T 38540 verifiers expect adbe.pkcs7.detached.
            self._subfilter = fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED
        else:
            is_rsa = key.algorithm is KeyAlgorithm.RSA_3072
            self._signer = SealKeySigner(
                key=key,
                signing_cert=cert,
                cert_registry=registry,
                mechanism="sha256_rsa" if is_rsa else "sha256_ecdsa",
                # RSA: modulus length; ECDSA P-256: max DER SEQUENCE of two 33-byte INTEGERs.
                placeholder_size=384 if is_rsa else 72,
            )
            self._md = "sha256"
            self._subfilter = fields.SigSeedSubFilter.PADES
        self._bytes_reserved = self._measure_reservation()

        self._image = EncodedImage.from_png(seal_image_png)
        font_path = next((p for p in font_paths if _exists(p)), None)
        if font_path is None:
            raise SigningError("no CJK font found for the seal text")
        self._font_path: str = font_path
        self._styles: dict[tuple[str, str], PrebuiltStampStyle] = {}
        self._appearances: dict[tuple[str, str, float, float], AppearanceTemplate] = {}
        self._cache_lock = threading.Lock()

    @property
    def algorithm(self) -> KeyAlgorithm:
        return self._algorithm

    def _measure_reservation(self) -> int:
        """Size of the /Contents hex string: one dry-run CMS, measured once per sealer."""
        try:
            size = self._signer.prepare_cms(
                self._md,
                self._subfilter is fields.SigSeedSubFilter.PADES,
                signing_time=datetime(2000, 1, 1, tzinfo=UTC),
                timestamper=self._timestamper,
            )
        except CertsvcError:
            raise
        except Exception as exc:
            raise SigningError("the seal signer could not be prepared") from exc
        margin = _RESERVE_MARGIN + (_TIMESTAMP_MARGIN if self._timestamper is not None else 0)
        # x2: hex encoding in the PDF.
        return 2 * (size + margin)

    @property
    def is_timestamping(self) -> bool:
        """Whether every seal carries a signature time-stamp (PAdES B-T)."""
        return self._timestamper is not None

    def _appearance(
        self, department_name: str, date_text: str, width: float, height: float
    ) -> AppearanceTemplate:
        key = (department_name, date_text, width, height)
        template = self._appearances.get(key)
        if template is None:
            # Built outside the lock: two threads may both build it, one result is kept.
            template = build_seal_appearance(
                font_path=self._font_path,
                department_name=department_name,
                date_text=date_text,
                image=self._image,
                width=width,
                height=height,
                show_text=self._show_text,
            )
            with self._cache_lock:
                # Bounded: one entry per (department, day, box size); old days are dropped.
                if len(self._appearances) >= _MAX_APPEARANCES:
                    self._appearances.clear()
                self._appearances[key] = template
        return template

    def _style(self, department_name: str, date_text: str) -> PrebuiltStampStyle:
        key = (department_name, date_text)
        style = self._styles.get(key)
        if style is None:

            def template_for(width: float, height: float) -> AppearanceTemplate:
                return self._appearance(department_name, date_text, width, height)

            style = PrebuiltStampStyle(border_width=0, template_for=template_for)
            with self._cache_lock:
                if len(self._styles) >= _MAX_APPEARANCES:
                    self._styles.clear()
                self._styles[key] = style
        return style

    def seal(
        self,
        pdf: bytes,
        *,
        box: SealBox,
        department_name: str,
        signed_at: datetime,
        reason: str,
        field_name: str = "Seal1",
    ) -> bytes:
        """Return ``pdf`` with one more incremental revision: a visible, signed seal at ``box``.

        ``signed_at`` (aware) is the signing time written into the signature and shown, as a
        China Standard Time date, under the department's name.

        Raises:
            InvalidDocumentError: ``pdf`` is not a readable, unencrypted PDF, or has no page
                ``box.page_index``.
            SigningError: the signature could not be made (e.g. ``field_name`` already signed).
            ValueError: ``signed_at`` is naive or ``department_name`` empty.
        """
        if signed_at.tzinfo is None:
            raise ValueError("signed_at must be timezone-aware")
        department_name = department_name.strip()
        if not department_name:
            raise ValueError("department_name is empty")
        local = signed_at.astimezone(_CST)
        date_text = f"{local.year}年{local.month}月{local.day}日"

        try:
            writer = SealingWriter(io.BytesIO(pdf), strict=False)
            if writer.prev.encrypted:
                raise InvalidDocumentError("encrypted PDFs cannot be sealed")
            page_count = int(writer.root["/Pages"]["/Count"])
        except InvalidDocumentError:
            raise
        except Exception as exc:
            raise InvalidDocumentError("the document is not a readable PDF") from exc
        if box.page_index >= page_count:
            raise InvalidDocumentError(
                f"the document has {page_count} page(s); no page {box.page_index + 1} to seal"
            )

        meta = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm=self._md,
            subfilter=self._subfilter,
            reason=reason,
            name=department_name,
        )
        pdf_signer = ClockedPdfSigner(
            meta,
            self._signer,
            stamp_style=self._style(department_name, date_text),
            timestamper=self._timestamper,
            new_field_spec=fields.SigFieldSpec(
                sig_field_name=field_name,
                on_page=box.page_index,
                box=(box.x1, box.y1, box.x2, box.y2),  # type: ignore[arg-type]
            ),
            signed_at=signed_at,
        )
        try:
            out = pdf_signer.sign_pdf(writer, bytes_reserved=self._bytes_reserved)
        except CertsvcError:
            raise
        except Exception as exc:
            raise SigningError(f"the document could not be sealed: {_reason(exc)}") from exc
        data: bytes = out.getvalue()
        return data

    def __repr__(self) -> str:
        return f"PdfSealer(algorithm={self._algorithm.value!r})"


def _exists(path: str) -> bool:
    return os.path.isfile(path)


def _reason(exc: BaseException) -> str:
    # pyHanko messages are about the document (field names, sizes), never about key material.
    if isinstance(exc, PdfError | SigningError):
        return str(exc)[:200]
    from pyhanko.sign.general import SigningError as PyHankoSigningError

    if isinstance(exc, PyHankoSigningError):
        return str(exc)[:200]
    return type(exc).__name__
