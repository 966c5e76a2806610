"""GB/T 38540-2020 安全电子签章 (SES, "v4") seal and signature structures.

ASN.1 per STANDARDS.md §1.2 (reconstructed from ofdrw ``ses/v4`` and Chingliu ``38540.h``).
All encoding goes through asn1crypto classes; no hand-made DER.

What is signed (STANDARDS §1.3; ofdrw, Chingliu and zc310/ofd agree):

* seal (制章者签名): ``signedValue = SM2(制章者私钥, DER(SES_SealInfo))``
* signature (签章者签名): ``signature = SM2(签章者私钥, DER(TBS_Sign))``

both SM2-with-SM3 (1.2.156.10197.1.501) with the default ID (GM/T 0009-2012 §10), value = DER
``SEQUENCE{r,s}`` in the BIT STRING. On verification raw 64-byte ``r||s`` is accepted too, and
the optional ``extDatas``/``timeStamp`` fields are accepted tagged ``[0] EXPLICIT`` (ofdrw) or
untagged (Chingliu). certsvc never emits them.
"""

# ruff: noqa: RUF012 - asn1crypto declares schemas as mutable class attributes (_fields)
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import core, x509

from certsvc.crypto.gm_oids import OID_SM2_WITH_SM3, register_gm_oids
from certsvc.crypto.sm2 import DEFAULT_SIGNER_ID, Sm2PrivateKey, Sm2PublicKey, Sm2Signing, sm3
from certsvc.crypto.sm2_certificates import verify_sm2_certificate_signature
from certsvc.errors import SigningError

__all__ = [
    "SES_VERSION",
    "CertDigestObj",
    "ExtData",
    "ExtensionDatas",
    "MakerTrust",
    "SES_CertList_Certs",
    "SES_CertList_Digests",
    "SES_ESPictrueInfo",
    "SES_ESPropertyInfo",
    "SES_Header",
    "SES_SealInfo",
    "SES_Signature",
    "SESeal",
    "SealInfo",
    "SesReason",
    "SesSignatureInfo",
    "SesVerificationReport",
    "TBS_Sign",
    "make_seal",
    "parse_seal",
    "parse_signature",
    "sign_document",
    "verify_ses_signature",
]

register_gm_oids()

SES_VERSION = 4  # GB/T 38540-2020: SES_Header.version = 4
_SES_ID = "ES"  # SES_Header.id is the fixed string "ES"
CERT_LIST_CERTS = 1  # certListType 1: certificates
CERT_LIST_DIGESTS = 2  # certListType 2: certificate digests


# ---------------------------------------------------------------- ASN.1 (GB/T 38540 v4) ----
class SES_Header(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("id", core.IA5String),
        ("version", core.Integer),
        ("vid", core.IA5String),
    ]


class CertDigestObj(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("type", core.PrintableString),  # digest algorithm name, e.g. "SM3"
        ("value", core.OctetString),
    ]


class SES_CertList_Certs(core.SequenceOf):  # type: ignore[misc]
    """SES_CertList alternative ``certs``: SEQUENCE OF OCTET STRING (DER certificates)."""

    _child_spec = core.OctetString


class SES_CertList_Digests(core.SequenceOf):  # type: ignore[misc]
    """SES_CertList alternative ``certDigestList``: SEQUENCE OF CertDigestObj."""

    _child_spec = CertDigestObj


def _cert_list_spec(info: SES_ESPropertyInfo) -> type[core.Asn1Value]:
    # SES_CertList is a CHOICE of two SEQUENCE OFs, i.e. the same tag: the preceding
    # certListType selects the alternative, not the tag.
    if info["cert_list_type"].native == CERT_LIST_DIGESTS:
        return SES_CertList_Digests
    return SES_CertList_Certs


class SES_ESPropertyInfo(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("type", core.Integer),
        ("name", core.UTF8String),
        ("cert_list_type", core.Integer),
        ("cert_list", core.Any),
        ("create_date", core.GeneralizedTime),
        ("valid_start", core.GeneralizedTime),
        ("valid_end", core.GeneralizedTime),
    ]
    _spec_callbacks = {"cert_list": _cert_list_spec}


# sic: "Pictrue", as in the standard and ofdrw
class SES_ESPictrueInfo(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("type", core.IA5String),
        ("data", core.OctetString),
        ("width", core.Integer),  # millimetres
        ("height", core.Integer),  # millimetres
    ]


class ExtData(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("extn_id", core.ObjectIdentifier),
        ("critical", core.Boolean, {"default": False}),
        ("extn_value", core.OctetString),
    ]


class ExtensionDatas(core.SequenceOf):  # type: ignore[misc]
    _child_spec = ExtData


class SES_SealInfo(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("header", SES_Header),
        ("es_id", core.IA5String),
        ("property", SES_ESPropertyInfo),
        ("picture", SES_ESPictrueInfo),
        ("ext_datas", ExtensionDatas, {"optional": True}),  # untagged in ofdrw and Chingliu
    ]


class SESeal(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("e_seal_info", SES_SealInfo),
        ("cert", core.OctetString),  # 制章者证书 (DER)
        ("sign_alg_id", core.ObjectIdentifier),
        ("signed_value", core.OctetBitString),
    ]


class TBS_Sign(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("version", core.Integer),
        ("eseal", SESeal),
        ("time_info", core.GeneralizedTime),
        ("data_hash", core.OctetBitString),
        ("property_info", core.IA5String),
        ("ext_datas", ExtensionDatas, {"explicit": 0, "optional": True}),  # ofdrw
        ("ext_datas_untagged", ExtensionDatas, {"optional": True}),  # Chingliu; parse only
    ]


class SES_Signature(core.Sequence):  # type: ignore[misc]
    _fields = [
        ("to_sign", TBS_Sign),
        ("cert", core.OctetString),  # 签章者证书 (DER)
        ("signature_alg_id", core.ObjectIdentifier),
        ("signature", core.OctetBitString),
        ("time_stamp", core.OctetBitString, {"explicit": 0, "optional": True}),  # ofdrw
        ("time_stamp_untagged", core.OctetBitString, {"optional": True}),  # Chingliu; parse only
    ]


# ------------------------------------------------------------------------ parsed values ----
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


@dataclass(frozen=True)
class SesReason:
    code: str
    message: str


@dataclass(frozen=True)
class SesVerificationReport:
    """Outcome of :func:`verify_ses_signature`; ``is_valid`` iff there is no reason."""

    is_valid: bool
    reasons: tuple[SesReason, ...]
    signature: SesSignatureInfo | None = None

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


MakerTrust = Sequence[bytes] | Callable[[bytes], bool]


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


def _aware(value: datetime) -> datetime:
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
                "id": _SES_ID,
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
    if not _signer_listed(seal, signer_cert_der):
        raise SigningError(
            "the signer certificate is not in the seal's certificate list",
            code="signer_not_in_seal_list",
        )
    if not seal.valid_start <= _aware(signed_at) <= seal.valid_end:
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
        if seal["e_seal_info"]["header"]["id"].native != _SES_ID:
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


# ------------------------------------------------------------------------- verification ----
_DIGESTS: dict[str, Callable[[bytes], bytes]] = {
    "sm3": sm3,
    "sha1": lambda b: hashlib.sha1(b, usedforsecurity=False).digest(),
    "sha256": lambda b: hashlib.sha256(b).digest(),
}


def _signer_listed(seal: SealInfo, signer_cert_der: bytes) -> bool:
    if seal.cert_list_type == CERT_LIST_CERTS:
        return signer_cert_der in seal.signer_cert_ders
    for alg, digest in seal.signer_cert_digests:
        fn = _DIGESTS.get(alg.strip().lower().replace("-", ""))
        if fn is not None and fn(signer_cert_der) == digest:
            return True
    return False


def _public_key(cert_der: bytes) -> tuple[x509.Certificate, Sm2PublicKey] | None:
    try:
        cert = x509.Certificate.load(cert_der)
        return cert, Sm2PublicKey.from_spki_der(cert.public_key.dump())
    except (ValueError, TypeError, KeyError):
        return None


def _maker_trusted(maker_cert_der: bytes, maker_trust: MakerTrust) -> bool:
    if callable(maker_trust):
        return bool(maker_trust(maker_cert_der))
    maker = _public_key(maker_cert_der)
    for anchor_der in maker_trust:
        if anchor_der == maker_cert_der:  # pinned maker certificate
            return True
        anchor = _public_key(anchor_der)
        # or issued directly by a listed CA certificate
        if (
            maker is not None
            and anchor is not None
            and maker[0].issuer == anchor[0].subject
            and verify_sm2_certificate_signature(maker_cert_der, anchor[1])
        ):
            return True
    return False


def _validity(cert: x509.Certificate, at: datetime) -> str | None:
    validity = cert["tbs_certificate"]["validity"]
    if at < validity["not_before"].native:
        return "not_yet_valid"
    if at > validity["not_after"].native:
        return "expired"
    return None


def verify_ses_signature(
    signature_der: bytes,
    *,
    document_hash: bytes,
    maker_trust: MakerTrust,
    at: datetime | None = None,
) -> SesVerificationReport:
    """Verify a GB/T 38540 v4 ``SES_Signature`` (checklist of STANDARDS §1.3).

    1. SES signature over DER(TBS_Sign) with the signer certificate → ``ses_signature_invalid``
    2. signer certificate ∈ seal certList → ``signer_not_in_seal_list``
    3. seal signature over DER(SES_SealInfo) with the maker certificate → ``seal_signature_invalid``
    4. maker certificate trusted (``maker_trust``: pinned/issuing cert DERs, or a callable that
       receives the maker cert DER, e.g. a full path validation) → ``maker_untrusted``;
       maker certificate validity at the seal's createDate → ``maker_cert_expired`` / ``…not_yet_valid``
    5. seal window ``validStart ≤ t ≤ validEnd`` → ``seal_not_yet_valid`` / ``seal_expired``
    6. signer certificate validity at t → ``signer_cert_not_yet_valid`` / ``signer_cert_expired``
    7. ``dataHash == document_hash`` → ``data_hash_mismatch``

    ``t`` is ``at`` when given, else the signature's own ``timeInfo`` (claimed by the signer; no
    time-stamp checking is done). Revocation is not checked here. Never raises for bad input:
    malformed data gives ``ses_malformed``; unknown algorithms ``unsupported_algorithm``.
    """
    reasons: list[SesReason] = []

    def fail(code: str, message: str) -> None:
        reasons.append(SesReason(code, message))

    try:
        info = parse_signature(signature_der)
    except ValueError as exc:
        return SesVerificationReport(False, (SesReason("ses_malformed", str(exc)),))
    seal = info.seal
    t = _aware(at) if at is not None else info.signed_at

    if seal.version != SES_VERSION or info.version != seal.version:
        fail("version_mismatch", f"TBS_Sign version {info.version}, seal version {seal.version}")
    # 1. signature over TBS_Sign
    signer = _public_key(info.signer_cert_der)
    if info.signature_alg_oid != OID_SM2_WITH_SM3:
        fail("unsupported_algorithm", f"signature algorithm {info.signature_alg_oid}")
    elif signer is None:
        fail("ses_signature_invalid", "signer certificate is not an SM2 certificate")
    elif not signer[1].verify(info.signature, info.tbs_der, signer_id=DEFAULT_SIGNER_ID):
        fail("ses_signature_invalid", "the signature over TBS_Sign does not verify")
    # 2. signer allowed by the seal
    if not _signer_listed(seal, info.signer_cert_der):
        fail("signer_not_in_seal_list", "the signer certificate is not in the seal's list")
    # 3. seal signature
    maker = _public_key(seal.maker_cert_der)
    if seal.sign_alg_oid != OID_SM2_WITH_SM3:
        fail("unsupported_algorithm", f"seal signature algorithm {seal.sign_alg_oid}")
    elif maker is None or not maker[1].verify(
        seal.signed_value, seal.seal_info_der, signer_id=DEFAULT_SIGNER_ID
    ):
        fail(
            "seal_signature_invalid", "the seal maker's signature over SES_SealInfo does not verify"
        )
    # 4. maker trusted
    if not _maker_trusted(seal.maker_cert_der, maker_trust):
        fail("maker_untrusted", "the seal maker certificate is not trusted")
    elif maker is not None:
        state = _validity(maker[0], seal.created_at)
        if state is not None:
            fail(f"maker_cert_{state}", f"the seal maker certificate was {state} at seal creation")
    # 5. seal validity window
    if t < seal.valid_start:
        fail("seal_not_yet_valid", "the seal was not yet valid")
    elif t > seal.valid_end:
        fail("seal_expired", "the seal had expired")
    # 6. signer certificate validity
    if signer is not None:
        state = _validity(signer[0], t)
        if state is not None:
            fail(f"signer_cert_{state}", f"the signer certificate was {state}")
    # 7. document hash
    if info.data_hash != document_hash:
        fail("data_hash_mismatch", "dataHash does not match the document")
    return SesVerificationReport(not reasons, tuple(reasons), info)
