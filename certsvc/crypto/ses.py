"""GB/T 38540-2020 安全电子签章 (SES, "v4") seal and signature structures.

ASN.1 per STANDARDS.md §1.2 (reconstructed from ofdrw ``ses/v4`` and Chingliu ``38540.h``).
All encoding goes through asn1crypto classes; no hand-made DER.

What is signed (STANDARDS §1.3; ofdrw, Chingliu and zc310/ofd agree):

* seal (制章者签名): ``signedValue = SM2(制章者私钥, DER(SES_SealInfo))``
* signature (签章者签名): ``signature = SM2(签章者私钥, DER(TBS_Sign))``

both SM2-with-SM3 (1.2.156.10197.1.501) with the default ID (GM/T 0009-2012 §10), value = DER
``SEQUENCE{r,s}`` in the BIT STRING. On verification raw 64-byte ``r||s`` is accepted too, and
the optional ``extDatas``/``timeStamp`` fields are accepted tagged ``[0] EXPLICIT`` (ofdrw) or
untagged (Chingliu). certsvc writes ``timeStamp`` (a GM/T 0033 token over the signature value,
tagged as ofdrw does) when sealing is given a time-stamper, and never ``extDatas``.

The ASN.1 classes are in ``ses_asn1.py``; this module makes and parses them,
``ses_verification.py`` checks them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import core, x509

from certsvc.crypto.gm_oids import OID_SM2_WITH_SM3
from certsvc.crypto.ses_asn1 import (
    CERT_LIST_CERTS,
    CERT_LIST_DIGESTS,
    SES_ID,
    SES_VERSION,
    SES_CertList_Certs,
    SES_SealInfo,
    SES_Signature,
    SESeal,
    TBS_Sign,
)
from certsvc.crypto.sm2 import DEFAULT_SIGNER_ID, Sm2PrivateKey, Sm2PublicKey, Sm2Signing, sm3
from certsvc.errors import SigningError

__all__ = [
    "SealInfo",
    "SesSignatureInfo",
    "aware",
    "make_seal",
    "parse_seal",
    "parse_signature",
    "sign_document",
]

# ------------------------------------------------------------------------ parsed values ----
_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "sm3": sm3,
    "sha1": lambda b: hashlib.sha1(b, usedforsecurity=False).digest(),
    "sha256": lambda b: hashlib.sha256(b).digest(),
}


@dataclass(frozen=True)
class SealInfo:
    """A parsed SESeal (v4)."""

    version: int
    vendor_id: str
    es_id: str
    seal_type: int
    seal_name: str
    cert_list_type: int
    signer_cert_ders: tuple[bytes, ...]  # certListType 1
    signer_cert_digests: tuple[tuple[str, bytes], ...]  # certListType 2: (algorithm, digest)
    created_at: datetime
    valid_start: datetime
    valid_end: datetime
    picture_type: str
    picture_data: bytes
    width_mm: int
    height_mm: int
    maker_cert_der: bytes
    sign_alg_oid: str
    signed_value: bytes
    seal_info_der: bytes  # the exact bytes the maker signed

    def lists_signer(self, signer_cert_der: bytes) -> bool:
        """Whether the seal's certificate list names this signer (by certificate or digest)."""
        if self.cert_list_type == CERT_LIST_CERTS:
            return signer_cert_der in self.signer_cert_ders
        for algorithm, digest in self.signer_cert_digests:
            hash_of = _DIGESTS.get(algorithm.strip().lower().replace("-", ""))
            if hash_of is not None and hash_of(signer_cert_der) == digest:
                return True
        return False


@dataclass(frozen=True)
class SesSignatureInfo:
    """A parsed SES_Signature (v4)."""

    version: int
    seal: SealInfo
    seal_der: bytes
    signed_at: datetime  # TBS_Sign.timeInfo (claimed by the signer)
    data_hash: bytes
    property_info: str
    signer_cert_der: bytes
    signature_alg_oid: str
    signature: bytes
    time_stamp: bytes | None
    tbs_der: bytes  # the exact bytes the signer signed


# ----------------------------------------------------------------------------- helpers ----
def _gt(at: datetime) -> core.GeneralizedTime:
    if at.tzinfo is None:
        raise ValueError("SES datetimes must be timezone-aware")
    return core.GeneralizedTime(at.astimezone(UTC).replace(microsecond=0))


def _ascii(value: str, what: str) -> str:
    if not value.isascii():
        raise ValueError(f"{what} must be ASCII (IA5String)")
    return value


_PICTURE_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG"}


def _ensure_key_matches(key: Sm2Signing, cert_der: bytes, what: str) -> x509.Certificate:
    cert = x509.Certificate.load(cert_der)
    if Sm2PublicKey.from_spki_der(cert.public_key.dump()) != key.public_key():
        raise SigningError(f"the {what} key does not match the {what} certificate")
    return cert


def aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------- producing ----
def make_seal(
    *,
    es_id: str,
    seal_name: str,
    seal_type: int,
    signer_cert_ders: list[bytes],
    valid_start: datetime,
    valid_end: datetime,
    created_at: datetime,
    picture_png: bytes,
    width_mm: int,
    height_mm: int,
    maker_cert_der: bytes,
    maker_key: Sm2PrivateKey,
    vendor_id: str = "certsvc",
) -> bytes:
    """Build and sign a GB/T 38540 v4 ``SESeal`` (certListType 1: DER certificates); returns DER.

    Raises:
        ValueError: bad arguments (non-ASCII esID/vendor id, empty cert list, not a PNG ...).
        SigningError: maker key does not match the maker certificate, or signing failed.
    """
    if not signer_cert_ders:
        raise ValueError("a seal needs at least one signer certificate")
    if valid_end <= valid_start:
        raise ValueError("valid_end must be after valid_start")
    if not picture_png.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValueError("picture_png is not a PNG file")
    if width_mm <= 0 or height_mm <= 0:
        raise ValueError("seal picture size must be positive")
    for der in signer_cert_ders:
        x509.Certificate.load(der).native  # noqa: B018 - fail early on a broken certificate
    _ensure_key_matches(maker_key, maker_cert_der, "seal maker")

    seal_info = SES_SealInfo(
        {
            "header": {
                "id": SES_ID,
                "version": SES_VERSION,
                "vid": _ascii(vendor_id, "vendor_id"),
            },
            "es_id": _ascii(es_id, "es_id"),
            "property": {
                "type": seal_type,
                "name": seal_name,
                "cert_list_type": CERT_LIST_CERTS,
                "cert_list": SES_CertList_Certs(list(signer_cert_ders)),
                "create_date": _gt(created_at),
                "valid_start": _gt(valid_start),
                "valid_end": _gt(valid_end),
            },
            "picture": {"type": "PNG", "data": picture_png, "width": width_mm, "height": height_mm},
        }
    )
    seal_info_der = seal_info.dump()
    # GB/T 38540 (STANDARDS §1.3): the maker signs DER(SES_SealInfo) only.
    signed_value = maker_key.sign(seal_info_der, signer_id=DEFAULT_SIGNER_ID)
    seal = SESeal(
        {
            "e_seal_info": seal_info,
            "cert": maker_cert_der,
            "sign_alg_id": OID_SM2_WITH_SM3,
            "signed_value": signed_value,
        }
    )
    return bytes(seal.dump())


def _assemble_signature(
    *,
    seal_der: bytes,
    signer_key: Sm2Signing,
    signer_cert_der: bytes,
    data_hash_sm3: bytes,
    property_info: str,
    signed_at: datetime,
    version: int = SES_VERSION,
    time_stamper: Callable[[bytes], bytes] | None = None,
) -> bytes:
    # No policy checks here (tests use it to build deliberately bad signatures).
    tbs = TBS_Sign(
        {
            "version": version,
            "eseal": SESeal.load(seal_der),
            "time_info": _gt(signed_at),
            "data_hash": data_hash_sm3,
            "property_info": _ascii(property_info, "property_info"),
        }
    )
    tbs_der = tbs.dump()
    # GB/T 38540 (STANDARDS §1.3): the signer signs DER(TBS_Sign).
    signature = signer_key.sign(tbs_der, signer_id=DEFAULT_SIGNER_ID)
    fields: dict[str, object] = {
        "to_sign": tbs,
        "cert": signer_cert_der,
        "signature_alg_id": OID_SM2_WITH_SM3,
        "signature": signature,
    }
    if time_stamper is not None:
        # GB/T 38540 §7.x timeStamp: a time-stamp token over the signature value, written
        # [0] EXPLICIT as ofdrw does (STANDARDS §1.2).
        fields["time_stamp"] = time_stamper(signature)
    return bytes(SES_Signature(fields).dump())


def sign_document(
    *,
    seal_der: bytes,
    signer_key: Sm2Signing,
    signer_cert_der: bytes,
    data_hash_sm3: bytes,
    property_info: str,
    signed_at: datetime,
    time_stamper: Callable[[bytes], bytes] | None = None,
) -> bytes:
    """Apply a seal to a document: returns DER ``SES_Signature`` (OFD ``SignedValue.dat``).

    ``data_hash_sm3`` is SM3 of the protected data (for OFD: of ``Signature.xml``);
    ``property_info`` describes it (for OFD: the absolute path of that ``Signature.xml``).
    ``time_stamper``, when given, maps the signature value to a DER TimeStampToken over it
    (GM/T 0033), stored in ``timeStamp``; its errors propagate.

    Raises:
        ValueError: the hash is not 32 bytes, or property_info is not ASCII.
        SigningError: the signer is not in the seal's certificate list, the seal is not valid
            at ``signed_at``, or the key does not match the certificate.
    """
    if len(data_hash_sm3) != 32:
        raise ValueError("data_hash_sm3 must be a 32-byte SM3 digest")
    seal = parse_seal(seal_der)
    _ensure_key_matches(signer_key, signer_cert_der, "signer")
    if not seal.lists_signer(signer_cert_der):
        raise SigningError(
            "the signer certificate is not in the seal's certificate list",
            code="signer_not_in_seal_list",
        )
    if not seal.valid_start <= aware(signed_at) <= seal.valid_end:
        raise SigningError("the seal is not valid at the signing time", code="seal_not_valid")
    return _assemble_signature(
        seal_der=seal_der,
        signer_key=signer_key,
        signer_cert_der=signer_cert_der,
        data_hash_sm3=data_hash_sm3,
        property_info=property_info,
        signed_at=signed_at,
        version=seal.version,
        time_stamper=time_stamper,
    )


# ------------------------------------------------------------------------------ parsing ----
def _seal_info_from(seal: SESeal) -> SealInfo:
    info = seal["e_seal_info"]
    prop = info["property"]
    pic = info["picture"]
    cert_list_type = prop["cert_list_type"].native
    certs: tuple[bytes, ...] = ()
    digests: tuple[tuple[str, bytes], ...] = ()
    parsed_list = (
        prop["cert_list"].parsed if isinstance(prop["cert_list"], core.Any) else prop["cert_list"]
    )
    if cert_list_type == CERT_LIST_CERTS:
        certs = tuple(item.native for item in parsed_list)
    elif cert_list_type == CERT_LIST_DIGESTS:
        digests = tuple((item["type"].native, item["value"].native) for item in parsed_list)
    else:
        raise ValueError(f"unknown certListType {cert_list_type}")
    return SealInfo(
        version=info["header"]["version"].native,
        vendor_id=info["header"]["vid"].native,
        es_id=info["es_id"].native,
        seal_type=prop["type"].native,
        seal_name=prop["name"].native,
        cert_list_type=cert_list_type,
        signer_cert_ders=certs,
        signer_cert_digests=digests,
        created_at=prop["create_date"].native,
        valid_start=prop["valid_start"].native,
        valid_end=prop["valid_end"].native,
        picture_type=pic["type"].native,
        picture_data=pic["data"].native,
        width_mm=pic["width"].native,
        height_mm=pic["height"].native,
        maker_cert_der=seal["cert"].native,
        sign_alg_oid=seal["sign_alg_id"].dotted,
        signed_value=seal["signed_value"].native,
        seal_info_der=info.dump(),
    )


def parse_seal(der: bytes) -> SealInfo:
    """Parse a DER ``SESeal`` (GB/T 38540 v4). Raises ValueError if malformed."""
    try:
        seal = SESeal.load(der, strict=True)
        if seal["e_seal_info"]["header"]["id"].native != SES_ID:
            raise ValueError("SES_Header.id is not 'ES'")
        return _seal_info_from(seal)
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a GB/T 38540 v4 SESeal: {exc}") from exc


def parse_signature(der: bytes) -> SesSignatureInfo:
    """Parse a DER ``SES_Signature`` (GB/T 38540 v4). Raises ValueError if malformed."""
    try:
        sig = SES_Signature.load(der, strict=True)
        tbs = sig["to_sign"]
        seal = tbs["eseal"]
        ts = sig["time_stamp"]
        if ts.native is None:
            ts = sig["time_stamp_untagged"]
        return SesSignatureInfo(
            version=tbs["version"].native,
            seal=_seal_info_from(seal),
            seal_der=seal.dump(),
            signed_at=tbs["time_info"].native,
            data_hash=tbs["data_hash"].native,
            property_info=tbs["property_info"].native,
            signer_cert_der=sig["cert"].native,
            signature_alg_oid=sig["signature_alg_id"].dotted,
            signature=sig["signature"].native,
            time_stamp=ts.native,
            tbs_der=tbs.dump(),
        )
    except (ValueError, TypeError, KeyError) as exc:
        raise ValueError(f"not a GB/T 38540 v4 SES_Signature: {exc}") from exc
