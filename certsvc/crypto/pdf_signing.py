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
  if they agree (see :func:`_cms_shape`);
* the appearance (seal image over name and date, with the embedded CJK font subset) is drawn
  once per (department name, date, box size) and kept as a frozen object graph
  (:mod:`certsvc.crypto._appearance`); per document its pre-encoded objects are copied in, so
  no font is subset or saved and no image is encoded.

The sealer holds no per-document state, so one instance may be used from several threads.
"""

# pyHanko's generic PDF object constructors are untyped; the values passed are plain literals.
# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from asn1crypto.algos import SignedDigestAlgorithm
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from certsvc.crypto._appearance import (
    AppearanceTemplate,
    EncodedImage,
    PrebuiltStampStyle,
    build_seal_appearance,
)
from certsvc.crypto.keys import KeyAlgorithm
from certsvc.crypto.signing import SigningKey, sm2_signing
from certsvc.crypto.timestamp_client import TimeStampTransport, TransportTimeStamper
from certsvc.domain.layout import SealBox
from certsvc.errors import CertsvcError, InvalidDocumentError, SigningError

__all__ = ["DEFAULT_CJK_FONTS", "PdfSealer"]

_log = logging.getLogger(__name__)

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


# --- CMS from pre-encoded parts ------------------------------------------------------------
def _der_length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _der_length(len(content)) + content


_SEQUENCE, _SET, _OCTET_STRING, _CONTEXT_0 = 0x30, 0x31, 0x04, 0xA0
_INTEGER_1 = b"\x02\x01\x01"  # CMSVersion v1 (SignedData and SignerInfo)
_ATTR_MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
_ATTR_SIGNING_TIME = "1.2.840.113549.1.9.5"
_CONTEXT_1 = 0xA1
# RFC 3161 Appendix A / ETSI EN 319 122-1 §5.3: id-aa-signatureTimeStampToken.
_ATTR_SIGNATURE_TIME_STAMP = cms.CMSAttributeType("signature_time_stamp_token").dump()


@dataclass(frozen=True, slots=True)
class _CmsParts:
    """The document-independent DER of one signer's CMS (one digest algorithm, one profile)."""

    md: str
    pades: bool
    static_attrs: tuple[bytes, ...]  # content-type, signing-certificate-v2, ...
    message_digest_type: bytes  # DER OID of id-messageDigest
    signer_info_head: bytes  # version, sid, digestAlgorithm
    signature_algorithm: bytes
    signed_data_head: bytes  # version, digestAlgorithms, encapContentInfo, [0] certificates
    content_type: bytes  # DER OID of id-signedData

    @classmethod
    def build(cls, signer: Signer, md: str, pades: bool, reference: cms.ContentInfo) -> _CmsParts:
        """Take the static signed attributes from ``reference`` (a CMS pyHanko made)."""
        cert = signer.signing_cert
        assert cert is not None
        (ref_info,) = reference["content"]["signer_infos"]
        static = tuple(
            a.dump()
            for a in ref_info["signed_attrs"]
            if a["type"].dotted not in (_ATTR_MESSAGE_DIGEST, _ATTR_SIGNING_TIME)
        )
        digest_algorithm = algos.DigestAlgorithm({"algorithm": md}).dump()
        sid = cms.SignerIdentifier(
            {
                "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                    {"issuer": cert.issuer, "serial_number": cert.serial_number}
                )
            }
        ).dump()
        registry = signer.cert_registry or ()
        chosen = [c for c in registry if signer.embed_roots or c.self_signed == "no"]
        # DER SET OF: sorted encodings; the signer's certificate once (pyHanko adds it twice
        # when the registry holds it too).
        certificates = sorted({c.dump() for c in [*chosen, cert]})
        signed_data_head = (
            _INTEGER_1
            + _tlv(_SET, digest_algorithm)
            + cms.EncapsulatedContentInfo({"content_type": "data"}).dump()
            + _tlv(_CONTEXT_0, b"".join(certificates))
        )
        return cls(
            md=md,
            pades=pades,
            static_attrs=static,
            message_digest_type=cms.CMSAttributeType("message_digest").dump(),
            signer_info_head=_INTEGER_1 + sid + digest_algorithm,
            signature_algorithm=signer.get_signature_mechanism_for_digest(md).dump(),
            signed_data_head=signed_data_head,
            content_type=cms.ContentType("signed_data").dump(),
        )

    def signed_attrs(self, digest: bytes, signing_time: datetime | None) -> bytes:
        """The content octets of the signed attributes SET (DER order)."""
        attrs = [
            *self.static_attrs,
            _tlv(_SEQUENCE, self.message_digest_type + _tlv(_SET, _tlv(_OCTET_STRING, digest))),
        ]
        if not self.pades and signing_time is not None:
            # PAdES forbids signing-time; adbe.pkcs7.detached carries it (as pyHanko does).
            attrs.append(_signing_time_attr(signing_time))
        return b"".join(sorted(attrs))

    def content_info(self, attrs: bytes, signature: bytes, token: bytes | None = None) -> bytes:
        unsigned = b""
        if token is not None:
            # unsignedAttrs [1] IMPLICIT SET OF Attribute, one attribute holding the token.
            unsigned = _tlv(
                _CONTEXT_1, _tlv(_SEQUENCE, _ATTR_SIGNATURE_TIME_STAMP + _tlv(_SET, token))
            )
        signer_info = _tlv(
            _SEQUENCE,
            self.signer_info_head
            + _tlv(_CONTEXT_0, attrs)
            + self.signature_algorithm
            + _tlv(_OCTET_STRING, signature)
            + unsigned,
        )
        signed_data = _tlv(_SEQUENCE, self.signed_data_head + _tlv(_SET, signer_info))
        return _tlv(_SEQUENCE, self.content_type + _tlv(_CONTEXT_0, signed_data))


def _hash(md: str, data: bytes) -> bytes:
    if md == "sm3":
        from certsvc.crypto.sm2 import sm3

        return sm3(data)
    return hashlib.new(md, data).digest()


def _signing_time_attr(at: datetime) -> bytes:
    from asn1crypto import core

    der: bytes = cms.CMSAttribute(
        {
            "type": cms.CMSAttributeType("signing_time"),
            "values": [cms.Time({"utc_time": core.UTCTime(at)})],
        }
    ).dump()
    return der


def _cms_shape(ci: cms.ContentInfo) -> tuple[Any, ...]:
    """What must agree between pyHanko's CMS and ours: everything, up to the order of SET OF
    members (pyHanko leaves them unsorted) and duplicate certificates."""
    sd = ci["content"]
    (si,) = sd["signer_infos"]
    return (
        ci["content_type"].dotted,
        sd["version"].native,
        sd["digest_algorithms"].dump(),
        sd["encap_content_info"].dump(),
        sorted({c.dump() for c in sd["certificates"]}),
        sd["crls"].dump(),
        si["version"].native,
        si["sid"].dump(),
        si["digest_algorithm"].dump(),
        sorted(a.dump() for a in si["signed_attrs"]),
        si["signature_algorithm"].dump(),
        si["signature"].native,
        si["unsigned_attrs"].dump(),
    )


class _PrebuiltCmsMixin(Signer):
    """``async_sign`` from pre-encoded parts for the one case the sealer uses (no extra
    attributes, optionally a signature time-stamp); anything else goes through pyHanko's
    generic implementation."""

    _cms_parts: _CmsParts | None = None

    async def async_sign(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        dry_run: bool = False,
        use_pades: bool = False,
        timestamper: Any = None,
        signed_attr_settings: PdfCMSSignedAttributes | None = None,
        is_pdf_sig: bool = True,
        encap_content_info: Any = None,
    ) -> cms.ContentInfo:
        parts = self._cms_parts
        settings = signed_attr_settings or PdfCMSSignedAttributes()
        if (
            parts is None
            or digest_algorithm.lower() != parts.md
            or use_pades != parts.pades
            or (timestamper is not None and not isinstance(timestamper, TransportTimeStamper))
            or not is_pdf_sig
            or encap_content_info is not None
            or settings.cades_signed_attrs is not None
            or settings.adobe_revinfo_attr is not None
            or self.signed_attr_prov_spec is not None
            or self.unsigned_attr_prov_spec is not None
            or self.attribute_certs
        ):
            return await super().async_sign(
                data_digest,
                digest_algorithm,
                dry_run=dry_run,
                use_pades=use_pades,
                timestamper=timestamper,
                signed_attr_settings=signed_attr_settings,
                is_pdf_sig=is_pdf_sig,
                encap_content_info=encap_content_info,
            )
        attrs = parts.signed_attrs(data_digest, settings.signing_time)
        # The signature covers the DER of the attributes with their SET tag (RFC 5652 §5.4).
        signature = await self.async_sign_raw(_tlv(_SET, attrs), parts.md, dry_run)
        token = None
        if timestamper is not None:
            # The signature time-stamp (PAdES B-T) covers the signature value (RFC 3161 App. A),
            # hashed with the signature's own digest, as pyHanko's TSTProvider does.
            if dry_run:
                token_ci = await timestamper.async_dummy_response(parts.md)
            else:
                token_ci = await timestamper.async_timestamp(_hash(parts.md, signature), parts.md)
            token = token_ci.dump()
        return cms.ContentInfo.load(parts.content_info(attrs, signature, token))

    def prepare_cms(
        self,
        md: str,
        pades: bool,
        signing_time: datetime,
        timestamper: TransportTimeStamper | None = None,
    ) -> int:
        """Enable the pre-encoded CMS if it matches pyHanko's; return the CMS size (bytes)."""
        self._cms_parts = None
        digest = bytes(hashlib.new(md).digest_size) if md != "sm3" else bytes(32)
        attrs = PdfCMSSignedAttributes(signing_time=signing_time)

        async def both() -> tuple[cms.ContentInfo, cms.ContentInfo | None]:
            reference = await self.async_sign(
                digest, md, use_pades=pades, dry_run=True, signed_attr_settings=attrs,
                timestamper=timestamper,
            )  # fmt: skip
            try:
                self._cms_parts = _CmsParts.build(self, md, pades, reference)
                ours = await self.async_sign(
                    digest, md, use_pades=pades, dry_run=True, signed_attr_settings=attrs,
                    timestamper=timestamper,
                )  # fmt: skip
            except Exception:  # a certificate or algorithm the fast path cannot encode
                _log.warning("pre-encoded CMS unavailable; using pyHanko's", exc_info=True)
                return reference, None
            return reference, ours

        reference, ours = asyncio.run(both())
        if ours is None or _cms_shape(ours) != _cms_shape(reference):
            if ours is not None:
                _log.warning("pre-encoded CMS differs from pyHanko's; using pyHanko's")
            self._cms_parts = None
            return len(reference.dump())
        return max(len(reference.dump()), len(ours.dump()))


# --- signers -------------------------------------------------------------------------------
class _SealKeySigner(_PrebuiltCmsMixin):
    """pyHanko Signer over a :class:`SigningKey` (RSA PKCS#1 v1.5 / ECDSA)."""

    def __init__(
        self,
        *,
        key: SigningKey,
        signing_cert: asn1_x509.Certificate,
        cert_registry: SimpleCertificateStore,
        mechanism: str,
        placeholder_size: int,
    ) -> None:
        super().__init__(
            signature_mechanism=SignedDigestAlgorithm({"algorithm": mechanism}),
            signing_cert=signing_cert,
            cert_registry=cert_registry,
            embed_roots=True,
        )
        self._key = key
        self._placeholder_size = placeholder_size

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        if dry_run:
            # Only used once, to measure the CMS; the maximum length keeps the estimate safe.
            return bytes(self._placeholder_size)
        return self._key.sign(data, digest_algorithm=digest_algorithm)

    def __repr__(self) -> str:
        return f"_SealKeySigner({self._key!r})"


@functools.cache
def _sm2_signer_class() -> Callable[..., _PrebuiltCmsMixin]:
    try:
        from certsvc.crypto._pyhanko_gm import Sm2Signer
    except ImportError as exc:
        raise SigningError("SM2 sealing is not available in this installation") from exc

    class _SealSm2Signer(_PrebuiltCmsMixin, Sm2Signer):
        """``Sm2Signer`` (SM2 over DER(signedAttrs), SM3) with the pre-encoded CMS."""

    return _SealSm2Signer


class _SealingWriter(IncrementalPdfFileWriter):
    """An incremental writer that leaves the document's metadata as it was.

    pyHanko's writer stamps a new modification date into the Info dictionary and, for a
    document with XMP (every PDF/A render), parses, rewrites and re-serialises the whole XMP
    packet at each write — twice per signature, close to half the cost of a seal. A seal adds
    a signature; it does not edit the licence, so the revision it appends holds only the
    signature field, its appearance and the page's /Annots. Info and XMP stay byte-for-byte
    those of the render and so stay in agreement, as PDF/A-2 (ISO 19005-2 §6.6.2) requires.
    """

    def _update_meta(self) -> None:  # pyHanko's hook, called before each write
        return None


class _ClockedPdfSigner(signers.PdfSigner):
    """PdfSigner whose signing time is the injected ``signed_at``, not ``datetime.now()``."""

    def __init__(self, *args: Any, signed_at: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signed_at = signed_at

    def init_signing_session(
        self, pdf_out: BasePdfFileWriter, existing_fields_only: bool = False
    ) -> Any:
        session = super().init_signing_session(pdf_out, existing_fields_only=existing_fields_only)
        # Feeds the /M entry, the signing-time attribute (non-PAdES) and the appearance.
        session.system_time = self._signed_at
        return session


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

        self._signer: _PrebuiltCmsMixin
        if key.algorithm is KeyAlgorithm.SM2:
            self._signer = _sm2_signer_class()(
                signing_key=sm2_signing(key), signing_cert=cert, cert_registry=registry
            )
            self._md = "sm3"
            # No PAdES profile for SM2 exists; GB/T 38540 verifiers expect adbe.pkcs7.detached.
            self._subfilter = fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED
        else:
            is_rsa = key.algorithm is KeyAlgorithm.RSA_3072
            self._signer = _SealKeySigner(
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
            writer = _SealingWriter(io.BytesIO(pdf), strict=False)
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
        pdf_signer = _ClockedPdfSigner(
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
