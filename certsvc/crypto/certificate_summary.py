"""Reading a certificate for people and reports: subject, issuer, validity, key, fingerprint.

Parsed with asn1crypto rather than pyca/cryptography, so that SM2 certificates (which pyca cannot
load) read like the others. Making certificates is :mod:`certsvc.crypto.certificates`'s job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import x509 as asn1_x509

from certsvc.errors import InvalidDocumentError

__all__ = ["CertificateInfo", "certificate_summary"]

_SM2_CURVE_OID = "1.2.156.10197.1.301"


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What a person or a report needs to know about a certificate."""

    subject_common_name: str | None
    subject_organization: str | None
    subject_serial_number: str | None  # the 统一社会信用代码 for seal certificates
    issuer_common_name: str | None
    serial_hex: str
    not_before: datetime
    not_after: datetime
    sha256_fingerprint: str
    public_key_algorithm: str  # "rsa-3072", "ecdsa-p256", "sm2", else e.g. "rsa-2048"
    is_ca: bool


def _public_key_label(cert: asn1_x509.Certificate) -> str:
    pk = cert.public_key
    algo = pk.algorithm
    if algo == "rsa":
        return f"rsa-{pk.bit_size}"
    if algo == "ec":
        params = pk["algorithm"]["parameters"]
        curve = params.chosen.dotted if params.name == "named" else "explicit"
        if curve == "1.2.840.10045.3.1.7":
            return "ecdsa-p256"
        if curve == _SM2_CURVE_OID:
            return "sm2"
        return f"ec-{curve}"
    return str(algo)


def _first(name: asn1_x509.Name, attr: str) -> str | None:
    for rdn in name.chosen:
        for ava in rdn:
            if ava["type"].native == attr:
                return str(ava["value"].native)
    return None


def certificate_summary(der: bytes) -> CertificateInfo:
    """Summarise a DER certificate (RSA, ECDSA or SM2 — parsed with asn1crypto so SM2 works).

    Raises:
        InvalidDocumentError: the bytes are not a DER X.509 certificate.
    """
    try:
        cert = asn1_x509.Certificate.load(der, strict=True)
        tbs = cert["tbs_certificate"]
        subject = tbs["subject"]
        info = CertificateInfo(
            subject_common_name=_first(subject, "common_name"),
            subject_organization=_first(subject, "organization_name"),
            subject_serial_number=_first(subject, "serial_number"),
            issuer_common_name=_first(tbs["issuer"], "common_name"),
            serial_hex=format(tbs["serial_number"].native, "x"),
            not_before=cert.not_valid_before.astimezone(UTC),
            not_after=cert.not_valid_after.astimezone(UTC),
            sha256_fingerprint=hashlib.sha256(der).hexdigest(),
            public_key_algorithm=_public_key_label(cert),
            is_ca=bool(cert.ca),
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidDocumentError("not a DER X.509 certificate") from exc
    return info
