"""SM2 X.509 v3 certificates (GB/T 20518-2018 profile), built with asn1crypto.

Signature algorithm ``sm2_sm3`` (1.2.156.10197.1.501, no parameters), signature computed over
DER(TBSCertificate) with the default SM2 ID (GM/T 0009-2012 §10; GB/T 20518 §5.2.1.2 uses SM2
with SM3). Note: OpenSSL 3.0's ``verify`` cannot check such signatures (it uses an empty ID,
see STANDARDS §2.5) but ``x509 -text`` parses them; chains are validated in-process.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime

from asn1crypto import keys, x509

from certsvc.crypto.gm_oids import register_gm_oids
from certsvc.crypto.sm2 import DEFAULT_SIGNER_ID, Sm2PrivateKey, Sm2PublicKey

__all__ = [
    "KEY_USAGES",
    "build_sm2_certificate",
    "key_identifier",
    "verify_sm2_certificate_signature",
]

register_gm_oids()

# RFC 5280 §4.2.1.3 names as asn1crypto spells them.
KEY_USAGES = frozenset(
    {
        "digital_signature",
        "non_repudiation",
        "key_encipherment",
        "data_encipherment",
        "key_agreement",
        "key_cert_sign",
        "crl_sign",
        "encipher_only",
        "decipher_only",
    }
)

_SM2_SM3 = "sm2_sm3"


def key_identifier(public_key: Sm2PublicKey) -> bytes:
    """RFC 5280 §4.2.1.2 method (1): SHA-1 of the subjectPublicKey BIT STRING value.

    SHA-1 is used as an identifier only (no security role), for compatibility with every
    path builder.
    """
    info = keys.PublicKeyInfo.load(public_key.to_spki_der())
    return hashlib.sha1(info["public_key"].contents[1:], usedforsecurity=False).digest()


def _utc(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("certificate validity datetimes must be timezone-aware")
    return at.astimezone(UTC).replace(microsecond=0)


def _time(at: datetime) -> x509.Time:
    # RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050.
    if at.year < 2050:
        return x509.Time({"utc_time": at})
    return x509.Time({"general_time": at})


def build_sm2_certificate(
    *,
    subject: dict[str, str],
    subject_public_key: Sm2PublicKey,
    issuer_name: dict[str, str] | x509.Name | None,
    issuer_key: Sm2PrivateKey,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    is_ca: bool,
    path_length: int | None = None,
    key_usage: Iterable[str] = ("digital_signature", "non_repudiation"),
    issuer_public_key: Sm2PublicKey | None = None,
    extended_key_usage: Iterable[str] = (),
    crl_url: str | None = None,
    ocsp_url: str | None = None,
) -> bytes:
    """Build and sign an SM2 certificate; returns DER.

    ``subject``/``issuer_name`` use ``asn1crypto.x509.Name.build`` keys (``common_name``,
    ``organization_name``, ``country_name`` ...); Chinese text is encoded as UTF8String.
    ``issuer_name=None`` makes a self-signed certificate. The authority key identifier is taken
    from ``issuer_public_key`` (defaults to ``issuer_key.public_key()``).
    """
    if serial <= 0 or serial.bit_length() > 159:
        raise ValueError("serial must be a positive integer of at most 20 octets (RFC 5280)")
    usages = set(key_usage)
    unknown = usages - KEY_USAGES
    if unknown:
        raise ValueError(f"unknown key usages: {sorted(unknown)}")
    nb, na = _utc(not_before), _utc(not_after)
    if na <= nb:
        raise ValueError("not_after must be after not_before")

    subject_name = x509.Name.build(subject, use_printable=False)
    if issuer_name is None:
        issuer = subject_name
    elif isinstance(issuer_name, x509.Name):
        issuer = issuer_name
    else:
        issuer = x509.Name.build(issuer_name, use_printable=False)
    authority_pub = issuer_public_key or issuer_key.public_key()

    extensions = [
        {
            "extn_id": "basic_constraints",
            "critical": True,
            "extn_value": {"ca": is_ca, "path_len_constraint": path_length if is_ca else None},
        },
        {"extn_id": "key_usage", "critical": True, "extn_value": usages},
        {
            "extn_id": "key_identifier",
            "critical": False,
            "extn_value": key_identifier(subject_public_key),
        },
        {
            "extn_id": "authority_key_identifier",
            "critical": False,
            "extn_value": {"key_identifier": key_identifier(authority_pub)},
        },
    ]
    purposes = list(extended_key_usage)
    if purposes:
        # Only ever id-kp-timeStamping here, which RFC 3161 §2.3 requires to be critical.
        extensions.append(
            {"extn_id": "extended_key_usage", "critical": True, "extn_value": purposes}
        )
    if crl_url is not None:
        extensions.append(
            {
                "extn_id": "crl_distribution_points",
                "critical": False,
                "extn_value": [
                    {
                        "distribution_point": {
                            "full_name": [
                                x509.GeneralName({"uniform_resource_identifier": crl_url})
                            ]
                        }
                    }
                ],
            }
        )
    if ocsp_url is not None:
        extensions.append(
            {
                "extn_id": "authority_information_access",
                "critical": False,
                "extn_value": [
                    {
                        "access_method": "ocsp",
                        "access_location": x509.GeneralName(
                            {"uniform_resource_identifier": ocsp_url}
                        ),
                    }
                ],
            }
        )
    sig_alg = {"algorithm": _SM2_SM3}
    tbs = x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": sig_alg,
            "issuer": issuer,
            "validity": {"not_before": _time(nb), "not_after": _time(na)},
            "subject": subject_name,
            "subject_public_key_info": keys.PublicKeyInfo.load(subject_public_key.to_spki_der()),
            "extensions": extensions,
        }
    )
    signature = issuer_key.sign(tbs.dump(), signer_id=DEFAULT_SIGNER_ID)
    cert = x509.Certificate(
        {"tbs_certificate": tbs, "signature_algorithm": sig_alg, "signature_value": signature}
    )
    return bytes(cert.dump())


def verify_sm2_certificate_signature(cert_der: bytes, issuer_public_key: Sm2PublicKey) -> bool:
    """True iff ``cert_der`` is SM2-with-SM3 signed by ``issuer_public_key`` (default ID).

    Checks only the signature, not validity dates or extensions. Never raises for bad input.
    """
    try:
        cert = x509.Certificate.load(cert_der)
        alg = cert["signature_algorithm"]["algorithm"].dotted
        if (
            alg != "1.2.156.10197.1.501"
            or cert["tbs_certificate"]["signature"]["algorithm"].dotted != alg
        ):
            return False
        tbs_der = cert["tbs_certificate"].dump()
        signature = cert["signature_value"].native
    except (ValueError, TypeError, KeyError):
        return False
    return issuer_public_key.verify(signature, tbs_der, signer_id=DEFAULT_SIGNER_ID)
