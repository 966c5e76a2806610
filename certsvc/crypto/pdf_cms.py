"""The CMS SignedData of a seal, assembled from pre-encoded DER.

Certificates, signer identifier, algorithm identifiers and the static signed attributes are
dumped once per signer; per document only the message digest (and, for SM2, the signing time)
and the signature are encoded. pyHanko's generic path re-serialises the whole structure through
asn1crypto (~5 ms a seal). The fast path is checked against pyHanko's own CMS once, in
:meth:`PrebuiltCmsSigner.prepare_cms`, and only used if they agree (see :func:`cms_shape`).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from asn1crypto import algos, cms
from asn1crypto import x509 as asn1_x509
from asn1crypto.algos import SignedDigestAlgorithm
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer
from pyhanko_certvalidator.registry import SimpleCertificateStore

from certsvc.crypto.signing import SigningKey
from certsvc.crypto.timestamp_client import TransportTimeStamper
from certsvc.errors import SigningError

__all__ = ["PrebuiltCmsSigner", "SealKeySigner", "cms_shape", "sm2_signer_class"]

_log = logging.getLogger(__name__)


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


class _EncodedContentInfo(cms.ContentInfo):  # type: ignore[misc]
    """A ``ContentInfo`` that dumps the DER it was made from, unless it was changed since.

    asn1crypto takes a header whose last byte is 0x80 for the indefinite-length marker, so a
    long-form length such as ``82 09 80`` (2 432 bytes) makes ``dump()`` re-encode the whole
    value from its parsed parts: ~140 ms of CPU for a seal's CMS, against ~2.5 ms for the
    whole seal. Whether a CMS hits it depends on the lengths of its certificates and of the
    ECDSA signature (70–72 bytes), so some seal keys paid it on one seal in three.
    """

    _encoded: bytes = b""

    @classmethod
    def of(cls, der: bytes) -> _EncodedContentInfo:
        value = cls.load(der)
        assert isinstance(value, _EncodedContentInfo)
        value._encoded = der
        return value

    def dump(self, force: bool = False) -> bytes:
        if force or not self._encoded or self._is_mutated():
            return bytes(super().dump(force))
        return self._encoded


def cms_shape(ci: cms.ContentInfo) -> tuple[Any, ...]:
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


class PrebuiltCmsSigner(Signer):
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
        return _EncodedContentInfo.of(parts.content_info(attrs, signature, token))

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
        if ours is None or cms_shape(ours) != cms_shape(reference):
            if ours is not None:
                _log.warning("pre-encoded CMS differs from pyHanko's; using pyHanko's")
            self._cms_parts = None
            return len(reference.dump())
        return max(len(reference.dump()), len(ours.dump()))


# --- signers -------------------------------------------------------------------------------
class SealKeySigner(PrebuiltCmsSigner):
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
        return f"SealKeySigner({self._key!r})"


@functools.cache
def sm2_signer_class() -> Callable[..., PrebuiltCmsSigner]:
    try:
        from certsvc.crypto._pyhanko_gm import Sm2Signer
    except ImportError as exc:
        raise SigningError("SM2 sealing is not available in this installation") from exc

    class _SealSm2Signer(PrebuiltCmsSigner, Sm2Signer):
        """``Sm2Signer`` (SM2 over DER(signedAttrs), SM3) with the pre-encoded CMS."""

    return _SealSm2Signer
