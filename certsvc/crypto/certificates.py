"""A development PKI: root CA → seal-issuing CA → one seal certificate per department.

RSA and ECDSA certificates are built with pyca/cryptography's x509 builders; SM2 certificates
are delegated to :mod:`certsvc.crypto.sm2_certificates` (pyca/cryptography cannot sign with
SM2). All functions take :class:`~certsvc.crypto.keys.SealKey` handles and return DER bytes.

Profile (RFC 5280 + GB/T 20518 habits):
* root: basicConstraints CA (critical), keyUsage keyCertSign+cRLSign (critical), SKI;
* seal-issuing CA: pathLenConstraint 0 — it may issue only end-entity seal certificates;
* seal certificate: subject C=CN, O=CN=the department's Chinese name, serialNumber (X.520,
  2.5.4.5) = its 18-character 统一社会信用代码; keyUsage digitalSignature+nonRepudiation
  (critical), SKI/AKI; extendedKeyUsage id-kp-documentSigning (RFC 9336) only on request
  (NSS-based verifiers reject it, see :func:`make_seal_certificate`).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, Protocol

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID, ObjectIdentifier

from certsvc.crypto.keys import KeyAlgorithm, SealKey
from certsvc.domain.identifiers import is_valid_uscc
from certsvc.errors import SigningError

__all__ = [
    "PublicKeyHolder",
    "make_intermediate_ca",
    "make_list_signer_certificate",
    "make_root_ca",
    "make_seal_certificate",
    "make_tsa_certificate",
]

# RFC 9336: id-kp-documentSigning.
_EKU_DOCUMENT_SIGNING = ObjectIdentifier("1.3.6.1.5.5.7.3.36")
# RFC 3161 §2.3: a TSA certificate has exactly id-kp-timeStamping, marked critical.
_EKU_TIME_STAMPING = ObjectIdentifier("1.3.6.1.5.5.7.3.8")


class PublicKeyHolder(Protocol):
    """What a certificate's subject key must show: a loaded key, or a key inside a token."""

    @property
    def algorithm(self) -> KeyAlgorithm: ...

    def public_key_spki_der(self) -> bytes: ...


# --- names ---------------------------------------------------------------------------------
def _name_dict(
    *, common_name: str, organization: str, serial_number: str | None = None
) -> dict[str, str]:
    # Same attributes, in the plain form the SM2 builder takes.
    out = {"country_name": "CN", "organization_name": organization}
    if serial_number is not None:
        out["serial_number"] = serial_number
    out["common_name"] = common_name
    return out


def _new_serial(serial: int | None) -> int:
    # RFC 5280 §4.1.2.2: positive, at most 20 octets; CA/B BR: >= 64 bits of CSPRNG output.
    return serial if serial is not None else secrets.randbits(127) | (1 << 126)


def _check_validity(not_before: datetime, not_after: datetime) -> None:
    if not_before.tzinfo is None or not_after.tzinfo is None:
        raise ValueError("certificate validity needs timezone-aware datetimes")
    if not_after <= not_before:
        raise ValueError("not_after must be later than not_before")


def _spki_public_key(key: PublicKeyHolder) -> Any:
    return serialization.load_der_public_key(key.public_key_spki_der())


# --- builders ------------------------------------------------------------------------------
def _build(
    *,
    subject_key: PublicKeyHolder,
    subject: dict[str, str],
    issuer_key: SealKey,
    issuer_der: bytes | None,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    is_ca: bool,
    path_length: int | None,
    key_usage: set[str],
    document_signing_eku: bool,
    time_stamping_eku: bool = False,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
) -> bytes:
    _check_validity(not_before, not_after)
    if subject_key.algorithm is KeyAlgorithm.SM2 or issuer_key.algorithm is KeyAlgorithm.SM2:
        if subject_key.algorithm is not issuer_key.algorithm:
            # GM/T 0015: an SM2 chain is SM2 end to end; mixing would need an RSA/EC CA to sign
            # an SM2 key, which no Chinese verifier accepts.
            raise SigningError("SM2 certificates must be issued by an SM2 CA")
        return _build_sm2(
            subject_key=subject_key,
            subject=subject,
            issuer_key=issuer_key,
            issuer_der=issuer_der,
            serial=serial,
            not_before=not_before,
            not_after=not_after,
            is_ca=is_ca,
            path_length=path_length,
            key_usage=key_usage,
            time_stamping_eku=time_stamping_eku,
            crl_url=crl_url,
            ocsp_url=ocsp_url,
        )

    subject_name = x509.Name([x509.NameAttribute(_OIDS[k], v) for k, v in subject.items()])
    public_key = _spki_public_key(subject_key)
    if issuer_der is None:
        issuer_name = subject_name
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key)
    else:
        issuer_cert = x509.load_der_x509_certificate(issuer_der)
        issuer_name = issuer_cert.subject
        try:
            ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)
        except x509.ExtensionNotFound:
            aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_cert.public_key())  # type: ignore[arg-type]
        if (
            issuer_cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            != issuer_key.public_key_spki_der()
        ):
            raise SigningError("issuer key does not match the issuer certificate")

    builder = (
        x509.CertificateBuilder()
        .subject_name(subject_name)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(not_before.astimezone(UTC))
        .not_valid_after(not_after.astimezone(UTC))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=path_length), critical=True)
        .add_extension(_key_usage(key_usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(aki, critical=False)
    )
    if document_signing_eku:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([_EKU_DOCUMENT_SIGNING]), critical=False
        )
    if time_stamping_eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage([_EKU_TIME_STAMPING]), critical=True)
    if crl_url is not None:
        # RFC 5280 §4.2.1.13: where relying parties fetch the issuing CA's CRL.
        point = x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url)], None, None, None)
        builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
    if ocsp_url is not None:
        # RFC 5280 §4.2.2.1 id-ad-ocsp: where the CA answers OCSP for this certificate.
        access = x509.AccessDescription(
            x509.oid.AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(ocsp_url)
        )
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    try:
        cert = builder.sign(issuer_key._pyca_key(), hashes.SHA256())
    except (ValueError, TypeError) as exc:
        raise SigningError("the certificate could not be signed") from exc
    return cert.public_bytes(serialization.Encoding.DER)


_OIDS = {
    "country_name": NameOID.COUNTRY_NAME,
    "organization_name": NameOID.ORGANIZATION_NAME,
    "organizational_unit_name": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "serial_number": NameOID.SERIAL_NUMBER,
    "common_name": NameOID.COMMON_NAME,
}


def _key_usage(usages: set[str]) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature="digital_signature" in usages,
        content_commitment="non_repudiation" in usages,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign="key_cert_sign" in usages,
        crl_sign="crl_sign" in usages,
        encipher_only=False,
        decipher_only=False,
    )


def _build_sm2(
    *,
    subject_key: PublicKeyHolder,
    subject: dict[str, str],
    issuer_key: SealKey,
    issuer_der: bytes | None,
    serial: int,
    not_before: datetime,
    not_after: datetime,
    is_ca: bool,
    path_length: int | None,
    key_usage: set[str],
    time_stamping_eku: bool,
    crl_url: str | None,
    ocsp_url: str | None,
) -> bytes:
    try:
        from certsvc.crypto import sm2_certificates
        from certsvc.crypto.sm2 import Sm2PublicKey
    except ImportError as exc:
        raise SigningError("SM2 certificates are not available in this installation") from exc
    if issuer_der is None:
        issuer_name: Any = None  # self-signed
    else:
        # The issuer's subject Name exactly as encoded in its certificate (RFC 5280 §7.1 name
        # chaining compares encodings; re-encoding could change string types).
        issuer_name = asn1_x509.Certificate.load(issuer_der).subject
    der: bytes = sm2_certificates.build_sm2_certificate(
        subject=subject,
        subject_public_key=Sm2PublicKey.from_spki_der(subject_key.public_key_spki_der()),
        issuer_name=issuer_name,
        issuer_key=issuer_key._sm2_key(),
        serial=serial,
        not_before=not_before.astimezone(UTC),
        not_after=not_after.astimezone(UTC),
        is_ca=is_ca,
        path_length=path_length,
        key_usage=key_usage,
        extended_key_usage=("time_stamping",) if time_stamping_eku else (),
        crl_url=crl_url,
        ocsp_url=ocsp_url,
    )
    return der


def make_root_ca(
    *,
    key: SealKey,
    common_name: str,
    organization: str,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
) -> bytes:
    """A self-signed root CA certificate (DER). No path length limit."""
    return _make_ca(
        key=key, common_name=common_name, organization=organization, issuer_key=key, issuer_der=None,
        path_length=None, not_before=not_before, not_after=not_after, serial=serial,
    )  # fmt: skip


def make_intermediate_ca(
    *,
    key: SealKey,
    common_name: str,
    organization: str,
    issuer_certificate_der: bytes,
    issuer_key: SealKey,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
) -> bytes:
    """A seal-issuing CA certificate (DER), pathLenConstraint 0: it issues seal certs only."""
    return _make_ca(
        key=key, common_name=common_name, organization=organization, issuer_key=issuer_key,
        issuer_der=issuer_certificate_der, path_length=0, not_before=not_before, not_after=not_after,
        serial=serial,
    )  # fmt: skip


def _make_ca(
    *,
    key: SealKey,
    common_name: str,
    organization: str,
    issuer_key: SealKey,
    issuer_der: bytes | None,
    path_length: int | None,
    not_before: datetime,
    not_after: datetime,
    serial: int | None,
) -> bytes:
    return _build(
        subject_key=key,
        subject=_name_dict(common_name=common_name, organization=organization),
        issuer_key=issuer_key,
        issuer_der=issuer_der,
        serial=_new_serial(serial),
        not_before=not_before,
        not_after=not_after,
        is_ca=True,
        path_length=path_length,
        key_usage={"key_cert_sign", "crl_sign"},
        document_signing_eku=False,
    )


def make_seal_certificate(
    *,
    key: PublicKeyHolder,
    department_name: str,
    credit_code: str,
    issuer_certificate_der: bytes,
    issuer_key: SealKey,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
    document_signing_eku: bool = False,
    crl_url: str | None = None,
    ocsp_url: str | None = None,
) -> bytes:
    """A department's seal certificate (DER).

    ``crl_url``/``ocsp_url`` go into the CRL distribution points and the authority
    information access (OCSP) extensions: where a verifier learns of a revocation.

    No extendedKeyUsage by default: with id-kp-documentSigning alone, NSS (poppler ``pdfsig``,
    Firefox's PDF viewer) refuses the certificate for signature verification ("Certificate
    type not approved for application"); without EKU every verifier accepts it.

    ``credit_code`` is the department's 统一社会信用代码 (GB 32100-2015, check character
    verified) and goes into the subject's serialNumber attribute.

    Raises:
        ValueError: bad credit code or department name, or inconsistent validity dates.
        SigningError: the issuer key does not match the issuer certificate.
    """
    department_name = department_name.strip()
    if not department_name:
        raise ValueError("department_name is empty")
    if not is_valid_uscc(credit_code):
        raise ValueError("credit_code is not a valid 统一社会信用代码")
    subject = _name_dict(
        common_name=department_name, organization=department_name, serial_number=credit_code
    )
    return _build(
        subject_key=key,
        subject=subject,
        issuer_key=issuer_key,
        issuer_der=issuer_certificate_der,
        serial=_new_serial(serial),
        not_before=not_before,
        not_after=not_after,
        is_ca=False,
        path_length=None,
        key_usage={"digital_signature", "non_repudiation"},
        document_signing_eku=document_signing_eku,
        crl_url=crl_url,
        ocsp_url=ocsp_url,
    )


def make_tsa_certificate(
    *,
    key: PublicKeyHolder,
    common_name: str,
    organization: str,
    issuer_certificate_der: bytes,
    issuer_key: SealKey,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
) -> bytes:
    """A time-stamping authority's certificate (DER): keyUsage digitalSignature +
    nonRepudiation (critical) and extendedKeyUsage id-kp-timeStamping only, critical
    (RFC 3161 §2.3), which ``openssl ts -verify`` and pyHanko both insist on.

    Raises:
        ValueError: inconsistent validity dates.
        SigningError: the issuer key does not match the issuer certificate.
    """
    return _service_leaf(
        key=key,
        common_name=common_name,
        organization=organization,
        issuer_certificate_der=issuer_certificate_der,
        issuer_key=issuer_key,
        not_before=not_before,
        not_after=not_after,
        serial=serial,
        key_usage={"digital_signature", "non_repudiation"},
        time_stamping_eku=True,
    )


def make_list_signer_certificate(
    *,
    key: PublicKeyHolder,
    common_name: str,
    organization: str,
    issuer_certificate_der: bytes,
    issuer_key: SealKey,
    not_before: datetime,
    not_after: datetime,
    serial: int | None = None,
) -> bytes:
    """A certificate for a key that signs lists (the QR trust list), not documents (DER).

    A leaf of its own, so that the key signing the list is neither a CA key (kept offline) nor
    a department's seal key.

    Raises:
        ValueError: inconsistent validity dates.
        SigningError: the issuer key does not match the issuer certificate.
    """
    return _service_leaf(
        key=key,
        common_name=common_name,
        organization=organization,
        issuer_certificate_der=issuer_certificate_der,
        issuer_key=issuer_key,
        not_before=not_before,
        not_after=not_after,
        serial=serial,
        key_usage={"digital_signature"},
        time_stamping_eku=False,
    )


def _service_leaf(
    *,
    key: PublicKeyHolder,
    common_name: str,
    organization: str,
    issuer_certificate_der: bytes,
    issuer_key: SealKey,
    not_before: datetime,
    not_after: datetime,
    serial: int | None,
    key_usage: set[str],
    time_stamping_eku: bool,
) -> bytes:
    """A leaf for one of the service's own keys (TSA, list signer): never a document signer."""
    return _build(
        subject_key=key,
        subject=_name_dict(common_name=common_name, organization=organization),
        issuer_key=issuer_key,
        issuer_der=issuer_certificate_der,
        serial=_new_serial(serial),
        not_before=not_before,
        not_after=not_after,
        is_ca=False,
        path_length=None,
        key_usage=key_usage,
        document_signing_eku=False,
        time_stamping_eku=time_stamping_eku,
    )
