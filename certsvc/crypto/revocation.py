"""Revocation data a seal-issuing CA publishes: CRLs (RFC 5280 §5) and OCSP answers (RFC 6960).

RSA/ECDSA CAs use pyca/cryptography's ``CertificateRevocationListBuilder`` and
``OCSPResponseBuilder``. pyca/cryptography cannot sign with SM2, so an SM2 CA's CRL and OCSP
answers are built with asn1crypto and signed SM2-with-SM3 with the GM/T 0009 default ID, like
its certificates (the same structures, GM/T 0015 names SM2-with-SM3 for both).

A revocation carries two instants: ``revoked_at`` (when the CA recorded it, the CRL's
revocationDate) and ``invalid_from`` (RFC 5280 §5.3.2 invalidityDate: from when the key must
not be trusted, earlier for a key compromise discovered late).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from asn1crypto import core
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
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
            extensions.append(
                {"extn_id": "invalidity_date", "extn_value": entry.invalid_from.astimezone(UTC)}
            )
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
    if (
        request.issuer_name_hash != name_hash.finalize()
        or request.issuer_key_hash != key_hash.finalize()
    ):
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
        SigningError: signing failed, or the CA key does not match its certificate.
        ValueError: not an OCSP request for this CA.
    """
    ocsp_request_serial(request_der, ca_der=ca_der)
    if certificate_der is None:
        return ocsp_unauthorized()
    if ca_key.algorithm is KeyAlgorithm.SM2:
        return _make_sm2_ocsp_response(
            request_der=request_der, ca_der=ca_der, ca_key=ca_key, revocation=revocation,
            this_update=this_update, next_update=next_update,
        )  # fmt: skip
    ca = _ca(ca_der, ca_key)
    request = ocsp.load_der_ocsp_request(request_der)
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


def _make_sm2_ocsp_response(
    *,
    request_der: bytes,
    ca_der: bytes,
    ca_key: SealKey,
    revocation: RevokedCertificate | None,
    this_update: datetime,
    next_update: datetime,
) -> bytes:
    """RFC 6960 §4.2.1 BasicOCSPResponse signed SM2-with-SM3 over DER(tbsResponseData)."""
    from certsvc.crypto.sm2 import DEFAULT_SIGNER_ID

    ca = asn1_x509.Certificate.load(ca_der)
    if ca.public_key.dump() != ca_key.public_key_spki_der():
        raise SigningError("the CA key does not match the CA certificate")
    request = asn1_ocsp.OCSPRequest.load(request_der)["tbs_request"]
    (single,) = request["request_list"]  # ocsp_request_serial accepted exactly this one
    if revocation is None:
        status = asn1_ocsp.CertStatus(name="good", value=core.Null())
        single_extensions = None
    else:
        status = asn1_ocsp.CertStatus(
            name="revoked",
            value={
                "revocation_time": revocation.revoked_at.astimezone(UTC),
                "revocation_reason": revocation.reason.replace("-", "_"),
            },
        )
        # RFC 6960 §4.4: CRL entry extensions may accompany a single response (invalidityDate).
        single_extensions = [
            {"extn_id": "invalidity_date", "extn_value": revocation.invalid_from.astimezone(UTC)}
        ]
    nonce = next(
        (e for e in request["request_extensions"] or () if e["extn_id"].native == "nonce"), None
    )
    tbs = asn1_ocsp.ResponseData(
        {
            "version": "v1",
            "responder_id": asn1_ocsp.ResponderId(name="by_key", value=ca.public_key.sha1),
            "produced_at": this_update.astimezone(UTC),
            "responses": [
                {
                    "cert_id": single["req_cert"],
                    "cert_status": status,
                    "this_update": this_update.astimezone(UTC),
                    "next_update": next_update.astimezone(UTC),
                    "single_extensions": single_extensions,
                }
            ],
            # RFC 8954: echo the nonce.
            "response_extensions": [{"extn_id": "nonce", "extn_value": nonce["extn_value"].native}]
            if nonce
            else None,
        }
    )
    sig_alg = {"algorithm": "sm2_sm3"}
    signature = ca_key._sm2_key().sign(tbs.dump(), signer_id=DEFAULT_SIGNER_ID)
    basic = asn1_ocsp.BasicOCSPResponse(
        {
            "tbs_response_data": tbs,
            "signature_algorithm": sig_alg,
            "signature": signature,
            "certs": [ca],
        }
    )
    response = asn1_ocsp.OCSPResponse(
        {
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
        }
    )
    return bytes(response.dump())


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
