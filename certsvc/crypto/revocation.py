"""Revocation data a seal-issuing CA publishes: CRLs (RFC 5280 §5) and OCSP answers (RFC 6960).

RSA/ECDSA CAs use pyca/cryptography's ``CertificateRevocationListBuilder`` and
``OCSPResponseBuilder``. pyca/cryptography cannot sign with SM2, so an SM2 CA's CRL is built
with asn1crypto and signed SM2-with-SM3 (default ID), like its certificates; OCSP for SM2 CAs
is not offered (``SigningError``), their CRL is the revocation source.

A revocation carries two instants: ``revoked_at`` (when the CA recorded it, the CRL's
revocationDate) and ``invalid_from`` (RFC 5280 §5.3.2 invalidityDate: from when the key must
not be trusted, earlier for a key compromise discovered late).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import crl as asn1_crl
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

from certsvc.crypto.keys import KeyAlgorithm, SealKey
from certsvc.errors import SigningError

__all__ = [
    "REVOCATION_REASONS",
    "RevokedCertificate",
    "make_crl",
    "make_ocsp_response",
    "ocsp_malformed",
    "ocsp_request_serial",
    "ocsp_unauthorized",
]

# RFC 5280 §5.3.1 CRLReason names accepted from operators (the CLI's --reason values).
REVOCATION_REASONS: dict[str, x509.ReasonFlags] = {
    "unspecified": x509.ReasonFlags.unspecified,
    "key-compromise": x509.ReasonFlags.key_compromise,
    "affiliation-changed": x509.ReasonFlags.affiliation_changed,
    "superseded": x509.ReasonFlags.superseded,
    "cessation-of-operation": x509.ReasonFlags.cessation_of_operation,
}


@dataclass(frozen=True, slots=True)
class RevokedCertificate:
    serial: int
    revoked_at: datetime
    invalid_from: datetime
    reason: str  # a key of REVOCATION_REASONS


def _ca(ca_der: bytes, ca_key: SealKey) -> x509.Certificate:
    cert = x509.load_der_x509_certificate(ca_der)
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if spki != ca_key.public_key_spki_der():
        raise SigningError("the CA key does not match the CA certificate")
    return cert


def make_crl(
    *,
    ca_der: bytes,
    ca_key: SealKey,
    revoked: Sequence[RevokedCertificate],
    this_update: datetime,
    next_update: datetime,
    number: int,
) -> bytes:
    """A DER CRL of ``revoked`` signed by the CA.

    Raises:
        SigningError: the key is not the CA's, or signing failed.
    """
    if ca_key.algorithm is KeyAlgorithm.SM2:
        return _make_sm2_crl(
            ca_der=ca_der, ca_key=ca_key, revoked=revoked, this_update=this_update,
            next_update=next_update, number=number,
        )  # fmt: skip
    ca = _ca(ca_der, ca_key)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(this_update.astimezone(UTC))
        .next_update(next_update.astimezone(UTC))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.public_key()),  # type: ignore[arg-type]
            critical=False,
        )
    )
    for entry in revoked:
        item = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.revoked_at.astimezone(UTC))
            .add_extension(x509.CRLReason(REVOCATION_REASONS[entry.reason]), critical=False)
        )
        if entry.invalid_from != entry.revoked_at:
            item = item.add_extension(
                x509.InvalidityDate(entry.invalid_from.astimezone(UTC).replace(tzinfo=None)),
                critical=False,
            )
        builder = builder.add_revoked_certificate(item.build())
    try:
        crl = builder.sign(ca_key._pyca_key(), hashes.SHA256())
    except (ValueError, TypeError) as exc:
        raise SigningError("the CRL could not be signed") from exc
    return crl.public_bytes(serialization.Encoding.DER)


def _make_sm2_crl(
    *,
    ca_der: bytes,
    ca_key: SealKey,
    revoked: Sequence[RevokedCertificate],
    this_update: datetime,
    next_update: datetime,
    number: int,
) -> bytes:
    from certsvc.crypto.sm2 import DEFAULT_SIGNER_ID

    ca = asn1_x509.Certificate.load(ca_der)
    if ca.public_key.dump() != ca_key.public_key_spki_der():
        raise SigningError("the CA key does not match the CA certificate")
    sig_alg = {"algorithm": "sm2_sm3"}
    entries = []
    for entry in revoked:
        extensions: list[dict[str, object]] = [
            {"extn_id": "crl_reason", "extn_value": entry.reason.replace("-", "_")}
        ]
        if entry.invalid_from != entry.revoked_at:
            extensions.append({"extn_id": "invalidity_date", "extn_value": entry.invalid_from.astimezone(UTC)})
        entries.append(
            {
                "user_certificate": entry.serial,
                "revocation_date": asn1_x509.Time({"utc_time": entry.revoked_at.astimezone(UTC)}),
                "crl_entry_extensions": extensions,
            }
        )
    tbs = asn1_crl.TbsCertList(
        {
            "version": "v2",
            "signature": sig_alg,
            "issuer": ca.subject,
            "this_update": asn1_x509.Time({"utc_time": this_update.astimezone(UTC)}),
            "next_update": asn1_x509.Time({"utc_time": next_update.astimezone(UTC)}),
            "revoked_certificates": entries or None,
            "crl_extensions": [{"extn_id": "crl_number", "extn_value": number}],
        }
    )
    signature = ca_key._sm2_key().sign(tbs.dump(), signer_id=DEFAULT_SIGNER_ID)
    crl = asn1_crl.CertificateList(
        {"tbs_cert_list": tbs, "signature_algorithm": sig_alg, "signature": signature}
    )
    return bytes(crl.dump())


def ocsp_request_serial(request_der: bytes, *, ca_der: bytes) -> int:
    """The serial number an OCSP request asks about, if it asks this CA.

    Raises:
        ValueError: not an OCSP request, or one for another issuer.
    """
    request = ocsp.load_der_ocsp_request(request_der)
    ca = x509.load_der_x509_certificate(ca_der)
    algorithm = request.hash_algorithm
    name_hash = hashes.Hash(algorithm)
    name_hash.update(ca.subject.public_bytes())
    key_hash = hashes.Hash(algorithm)
    key_hash.update(_subject_public_key_bits(ca_der))
    if request.issuer_name_hash != name_hash.finalize() or request.issuer_key_hash != key_hash.finalize():
        raise ValueError("the request is for another issuer")
    return request.serial_number


def _subject_public_key_bits(cert_der: bytes) -> bytes:
    # RFC 6960 §4.1.1 issuerKeyHash: hash of the BIT STRING value of subjectPublicKey.
    cert = asn1_x509.Certificate.load(cert_der)
    return bytes(cert.public_key["public_key"].contents[1:])


def make_ocsp_response(
    *,
    request_der: bytes,
    ca_der: bytes,
    ca_key: SealKey,
    certificate_der: bytes | None,
    revocation: RevokedCertificate | None,
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    """A DER OCSP response for the one certificate a request asks about, signed by the CA
    itself (RFC 6960 §4.2.2.2: the CA may sign its own responses). ``certificate_der`` None
    means the CA issued no such serial that this service knows: the answer is
    ``unauthorized`` (RFC 6960 §2.3), never a ``good`` for a certificate nobody recorded.

    Raises:
        SigningError: an SM2 CA (no OCSP), or signing failed.
        ValueError: not an OCSP request for this CA.
    """
    if ca_key.algorithm is KeyAlgorithm.SM2:
        raise SigningError("OCSP is offered for RSA/ECDSA seal CAs only; SM2 seals use the CRL")
    ca = _ca(ca_der, ca_key)
    request = ocsp.load_der_ocsp_request(request_der)
    ocsp_request_serial(request_der, ca_der=ca_der)
    if certificate_der is None:
        return ocsp_unauthorized()
    cert = x509.load_der_x509_certificate(certificate_der)
    if revocation is None:
        status, revoked_at, reason = ocsp.OCSPCertStatus.GOOD, None, None
    else:
        status = ocsp.OCSPCertStatus.REVOKED
        revoked_at = revocation.revoked_at.astimezone(UTC)
        reason = REVOCATION_REASONS[revocation.reason]
    builder = ocsp.OCSPResponseBuilder().add_response(
        cert=cert,
        issuer=ca,
        algorithm=request.hash_algorithm,
        cert_status=status,
        this_update=this_update.astimezone(UTC),
        next_update=next_update.astimezone(UTC),
        revocation_time=revoked_at,
        revocation_reason=reason,
    )
    builder = builder.responder_id(ocsp.OCSPResponderEncoding.HASH, ca).certificates([ca])
    for ext in request.extensions:
        if isinstance(ext.value, x509.OCSPNonce):
            builder = builder.add_extension(ext.value, critical=False)  # RFC 8954: echo the nonce
    try:
        response = builder.sign(ca_key._pyca_key(), hashes.SHA256())
    except (ValueError, TypeError) as exc:
        raise SigningError("the OCSP response could not be signed") from exc
    return response.public_bytes(serialization.Encoding.DER)


def ocsp_unauthorized() -> bytes:
    """The OCSP answer for a request this responder cannot answer (RFC 6960 §2.3)."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.UNAUTHORIZED
    ).public_bytes(serialization.Encoding.DER)


def ocsp_malformed() -> bytes:
    """The OCSP answer for a request that cannot be read (RFC 6960 §2.3)."""
    return ocsp.OCSPResponseBuilder.build_unsuccessful(
        ocsp.OCSPResponseStatus.MALFORMED_REQUEST
    ).public_bytes(serialization.Encoding.DER)
