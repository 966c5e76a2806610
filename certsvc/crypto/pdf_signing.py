"""Visible electronic seals on PDF: a PAdES B-B signature (RSA/ECDSA) or an
adbe.pkcs7.detached SM2/SM3 signature (GB/T 38540-style CMS, via ``_pyhanko_gm.Sm2Signer``),
with the seal image drawn over the department's name and the signing date.

A :class:`PdfSealer` is built once per seal and reused for every document. Everything that
does not depend on the document is done in the constructor:

* the key is already loaded (a :class:`SealKey`), and the pyHanko ``Signer`` wrapping it
  signs with it directly (pyHanko's stock ``SimpleSigner`` re-parses the private key for
  every signature);
* the CMS size is measured once with a dry run, so each ``seal()`` passes ``bytes_reserved``
  and pyHanko never builds a throw-away CMS per document;
* the seal PNG is decoded, scaled and Flate-compressed once; each document gets the
  pre-encoded streams;
* the CJK font (a 20 MB TrueType collection) is cut once to the glyphs the stamp needs
  (department name + date characters), so per document fontTools/HarfBuzz parse ~20 kB.

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
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from asn1crypto import x509 as asn1_x509
from asn1crypto.algos import SignedDigestAlgorithm
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.font.api import FontEngineFactory
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer
from pyhanko.stamp import TextStamp, TextStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from certsvc.crypto.keys import KeyAlgorithm, SealKey
from certsvc.domain.layout import SealBox
from certsvc.errors import InvalidDocumentError, SigningError

__all__ = ["DEFAULT_CJK_FONTS", "PdfSealer"]

# AR PL UMing is a Ming/Song face, the customary type for official documents (GB/T 9704);
# WenQuanYi Zen Hei is the fallback. The first font of each collection is the simplified one.
DEFAULT_CJK_FONTS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)

# China Standard Time has had no DST since 1991: a fixed offset avoids needing tzdata.
_CST = timezone(timedelta(hours=8), "CST")
# Glyphs every seal needs besides the department name: the date line.
_DATE_CHARS = "0123456789年月日 "
# Seal images larger than this (pixels on the long side) are scaled down once: a 4 cm seal at
# 300 dpi is ~470 px; more only makes every sealed file larger.
_MAX_IMAGE_PX = 600
# Headroom added to the measured CMS size (bytes). ECDSA/SM2 DER signatures vary by a few
# bytes; the dry run uses the maximum length, this covers encoding differences.
_RESERVE_MARGIN = 64
_MAX_FONT_SUBSETS = 32


# --- seal image ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class _EncodedImage:
    """An RGBA image as pre-compressed PDF image streams (colour + soft mask)."""

    width: int
    height: int
    rgb_flate: bytes
    alpha_flate: bytes | None

    @classmethod
    def from_png(cls, png: bytes) -> _EncodedImage:
        try:
            from PIL import Image

            with Image.open(io.BytesIO(png)) as opened:
                if opened.format != "PNG":
                    raise ValueError("not a PNG")
                img = opened.convert("RGBA")
        except Exception as exc:
            raise SigningError("the seal image is not a readable PNG") from exc
        longest = max(img.size)
        if longest > _MAX_IMAGE_PX:
            scale = _MAX_IMAGE_PX / longest
            img = img.resize(
                (max(1, round(img.width * scale)), max(1, round(img.height * scale))),
                Image.Resampling.LANCZOS,
            )
        alpha = img.getchannel("A")
        lo, _hi = alpha.getextrema()
        alpha_flate = None if lo == 255 else zlib.compress(alpha.tobytes(), 9)
        rgb_flate = zlib.compress(img.convert("RGB").tobytes(), 9)
        return cls(img.width, img.height, rgb_flate, alpha_flate)

    def add_to(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        """Write the image XObject (and its SMask) into ``writer``; fresh objects per document."""

        def stream(colour_space: str, data: bytes) -> generic.StreamObject:
            return generic.StreamObject(
                {
                    pdf_name("/Type"): pdf_name("/XObject"),
                    pdf_name("/Subtype"): pdf_name("/Image"),
                    pdf_name("/Width"): generic.NumberObject(self.width),
                    pdf_name("/Height"): generic.NumberObject(self.height),
                    pdf_name("/ColorSpace"): pdf_name(colour_space),
                    pdf_name("/BitsPerComponent"): generic.NumberObject(8),
                    pdf_name("/Filter"): pdf_name("/FlateDecode"),
                },
                encoded_data=data,
            )

        img = stream("/DeviceRGB", self.rgb_flate)
        if self.alpha_flate is not None:
            img[pdf_name("/SMask")] = writer.add_object(stream("/DeviceGray", self.alpha_flate))
        return writer.add_object(img)


# --- font ----------------------------------------------------------------------------------
class _SubsetFontFactory(FontEngineFactory):
    """Creates pyHanko GlyphAccumulators over a small, pre-cut TrueType font."""

    def __init__(self, font_bytes: bytes) -> None:
        self._font_bytes = font_bytes

    def create_font_engine(self, writer: BasePdfFileWriter, obj_stream: Any = None) -> Any:
        from pyhanko.pdf_utils.font.opentype import GlyphAccumulator

        if obj_stream is None and writer.stream_xrefs:
            obj_stream = writer.prepare_object_stream()
        return GlyphAccumulator(
            writer=writer,
            font_handle=io.BytesIO(self._font_bytes),
            font_size=10,
            obj_stream=obj_stream,
        )


@functools.lru_cache(maxsize=_MAX_FONT_SUBSETS)
def _font_subset(font_path: str, chars: frozenset[str]) -> bytes:
    """The first face of ``font_path`` cut to ``chars`` (cached: ~0.2 s per new character set)."""
    try:
        from fontTools import subset, ttLib
    except ImportError as exc:
        raise SigningError(
            "visible seals need pyHanko's OpenType support: pip install 'pyHanko[opentype]'"
        ) from exc
    font = (
        ttLib.TTFont(font_path, fontNumber=0)
        if font_path.endswith(".ttc")
        else ttLib.TTFont(font_path)
    )
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]  # GlyphAccumulator reads the PostScript name
    options.notdef_outline = True
    # fontTools logs a warning per dropped bitmap table (BDF, FFTM); noise, not a problem.
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(sorted(chars)))
    subsetter.subset(font)
    out = io.BytesIO()
    font.save(out)
    return out.getvalue()


# --- stamp ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _SealStampStyle(TextStampStyle):
    """Name and date centred in the box, the seal image over them (ink over print)."""

    seal_image: _EncodedImage | None = None
    font_factory: _SubsetFontFactory | None = None
    lines: tuple[str, ...] = field(default=())
    # Multiply keeps the black text legible under red ink, like a real stamp on paper.
    seal_opacity: float = 0.9

    def create_stamp(
        self, writer: BasePdfFileWriter, box: layout.BoxConstraints, text_params: dict[str, Any]
    ) -> _SealStamp:
        return _SealStamp(writer=writer, style=self, box=box, text_params=text_params)


class _SealStamp(TextStamp):
    style: _SealStampStyle

    def get_default_text_params(self) -> dict[str, Any]:
        # pyHanko's default reads the system clock; everything shown comes from the caller.
        return {}

    def render(self) -> bytes:
        style = self.style
        box = self.box
        w, h = float(box.width), float(box.height)
        cmds: list[bytes] = [b"q"]
        if style.font_factory is not None and style.lines:
            cmds.append(self._render_lines(w, h))
        if style.seal_image is not None:
            cmds.append(self._render_seal(w, h))
        cmds.append(b"Q")
        return b" ".join(cmds)

    def _render_lines(self, w: float, h: float) -> bytes:
        style = self.style
        assert style.font_factory is not None and self.writer is not None
        # One engine per document: each engine embeds its own font subset.
        engine = style.font_factory.create_font_engine(self.writer)
        # Advances are in em: pick the size that fits the widest line into 90 % of the box.
        widths = [engine.shape(line, with_actual_text=False).x_advance for line in style.lines]
        size = min(h * 0.13, 0.9 * w / max(max(widths), 1e-6))
        engine.font_size = size
        self.set_resource(ResourceType.FONT, pdf_name("/FSeal"), engine.as_resource())
        leading = size * 1.35
        # The text block sits slightly below the centre, where the seal's lower half covers it.
        top = h * 0.42 + leading * (len(style.lines) - 1) / 2
        out = [b"BT 0 g /FSeal %g Tf" % size]
        for i, (line, width) in enumerate(zip(style.lines, widths, strict=True)):
            x = (w - width * size) / 2
            y = top - i * leading
            out.append(b"1 0 0 1 %g %g Tm" % (x, y))
            out.append(engine.shape(line).graphics_ops)
        out.append(b"ET")
        return b" ".join(out)

    def _render_seal(self, w: float, h: float) -> bytes:
        style = self.style
        img = style.seal_image
        assert img is not None and self.writer is not None
        self.set_resource(ResourceType.XOBJECT, pdf_name("/SealImg"), img.add_to(self.writer))
        opacity = generic.FloatObject(style.seal_opacity)
        self.set_resource(
            ResourceType.EXT_G_STATE,
            pdf_name("/SealGS"),
            generic.DictionaryObject(
                {
                    pdf_name("/ca"): opacity,
                    pdf_name("/CA"): opacity,
                    pdf_name("/BM"): pdf_name("/Multiply"),
                }
            ),
        )
        scale = min(w / img.width, h / img.height)
        iw, ih = img.width * scale, img.height * scale
        return b"q /SealGS gs %g 0 0 %g %g %g cm /SealImg Do Q" % (
            iw,
            ih,
            (w - iw) / 2,
            (h - ih) / 2,
        )


# --- signer --------------------------------------------------------------------------------
class _SealKeySigner(Signer):
    """pyHanko Signer over a loaded :class:`SealKey` (RSA PKCS#1 v1.5 / ECDSA)."""

    def __init__(
        self,
        *,
        key: SealKey,
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
    """Seals PDFs with one department seal: key + certificate + chain + seal image.

    Raises (constructor):
        SigningError: unreadable certificate or image, or a certificate that is not the key's.
    """

    def __init__(
        self,
        *,
        key: SealKey,
        certificate_der: bytes,
        chain_ders: Sequence[bytes],
        seal_image_png: bytes,
        font_paths: Sequence[str] = DEFAULT_CJK_FONTS,
    ) -> None:
        self._algorithm = key.algorithm
        cert = _load_cert(certificate_der, "seal certificate")
        if cert.public_key.dump() != key.public_key_spki_der():
            raise SigningError("the seal certificate does not belong to the seal key")
        chain = [_load_cert(d, "chain certificate") for d in chain_ders]
        registry = SimpleCertificateStore.from_certs([cert, *chain])

        self._signer: Signer
        if key.algorithm is KeyAlgorithm.SM2:
            try:
                from certsvc.crypto._pyhanko_gm import Sm2Signer
            except ImportError as exc:
                raise SigningError("SM2 sealing is not available in this installation") from exc
            self._signer = Sm2Signer(
                signing_key=key._sm2_key(), signing_cert=cert, cert_registry=registry
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

        self._image = _EncodedImage.from_png(seal_image_png)
        self._font_path = next((p for p in font_paths if _exists(p)), None)
        if self._font_path is None:
            raise SigningError("no CJK font found for the seal text")
        self._styles: dict[tuple[str, str], _SealStampStyle] = {}
        self._styles_lock = threading.Lock()

    @property
    def algorithm(self) -> KeyAlgorithm:
        return self._algorithm

    def _measure_reservation(self) -> int:
        """Size of the /Contents hex string: one dry-run CMS, measured once per sealer."""
        digest = hashlib.new(self._md, b"").digest() if self._md != "sm3" else bytes(32)
        attrs = PdfCMSSignedAttributes(signing_time=datetime(2000, 1, 1, tzinfo=UTC))
        try:
            cms = asyncio.run(
                self._signer.async_sign(
                    digest,
                    self._md,
                    use_pades=self._subfilter is fields.SigSeedSubFilter.PADES,
                    dry_run=True,
                    signed_attr_settings=attrs,
                )
            )
        except Exception as exc:
            raise SigningError("the seal signer could not be prepared") from exc
        # x2: hex encoding in the PDF.
        return 2 * (len(cms.dump()) + _RESERVE_MARGIN)

    def _style(self, department_name: str, date_text: str) -> _SealStampStyle:
        key = (department_name, date_text)
        style = self._styles.get(key)
        if style is None:
            chars = frozenset(department_name + _DATE_CHARS)
            assert self._font_path is not None
            factory = _SubsetFontFactory(_font_subset(self._font_path, chars))
            style = _SealStampStyle(
                border_width=0,
                seal_image=self._image,
                font_factory=factory,
                lines=(department_name, date_text),
            )
            with self._styles_lock:
                # Bounded: one entry per (department, day); old days are dropped.
                if len(self._styles) >= 64:
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
            writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
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
            new_field_spec=fields.SigFieldSpec(
                sig_field_name=field_name,
                on_page=box.page_index,
                box=(box.x1, box.y1, box.x2, box.y2),  # type: ignore[arg-type]
            ),
            signed_at=signed_at,
        )
        try:
            out = pdf_signer.sign_pdf(writer, bytes_reserved=self._bytes_reserved)
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
