"""GB/T 38540-2020 安全电子签章 (SES, "v4") structures in ASN.1 (STANDARDS.md §1.2).

Reconstructed from ofdrw ``ses/v4`` and Chingliu ``38540.h``. ``ses.py`` makes, parses and
verifies them; everything is encoded through these asn1crypto classes, never by hand.
"""

# ruff: noqa: RUF012 - asn1crypto declares schemas as mutable class attributes (_fields)
from __future__ import annotations

from asn1crypto import core

from certsvc.crypto.gm_oids import register_gm_oids

__all__ = [
    "CERT_LIST_CERTS",
    "CERT_LIST_DIGESTS",
    "SES_ID",
    "SES_VERSION",
    "CertDigestObj",
    "ExtData",
    "ExtensionDatas",
    "SES_CertList_Certs",
    "SES_CertList_Digests",
    "SES_ESPictrueInfo",
    "SES_ESPropertyInfo",
    "SES_Header",
    "SES_SealInfo",
    "SES_Signature",
    "SESeal",
    "TBS_Sign",
]

register_gm_oids()

SES_VERSION = 4  # GB/T 38540-2020: SES_Header.version = 4
SES_ID = "ES"  # SES_Header.id is the fixed string "ES"
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
