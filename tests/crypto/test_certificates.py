"""Development PKI: root → seal CA (pathLen 0) → department seal certificate."""

from __future__ import annotations

import hashlib

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509

from certsvc.crypto.api import (
    KeyAlgorithm,
    SealKey,
    certificate_summary,
    make_seal_certificate,
)
from certsvc.errors import InvalidDocumentError, SigningError
from tests.pki import DEPARTMENT_NAME, NOT_AFTER, NOT_BEFORE, credit_code, pki

pytestmark = pytest.mark.db_independent

ALGS = [KeyAlgorithm.RSA_3072, KeyAlgorithm.ECDSA_P256, KeyAlgorithm.SM2]


def _pki(alg: KeyAlgorithm):  # type: ignore[no-untyped-def]
    if alg is KeyAlgorithm.SM2:
        pytest.importorskip("certsvc.crypto.sm2")
    return pki(alg)


@pytest.mark.parametrize("alg", ALGS)
def test_seal_certificate_profile(alg: KeyAlgorithm) -> None:
    p = _pki(alg)
    info = certificate_summary(p.seal_der)
    assert info.subject_common_name == DEPARTMENT_NAME
    assert info.subject_organization == DEPARTMENT_NAME
    assert info.subject_serial_number == credit_code()
    assert len(info.subject_serial_number) == 18
    assert info.public_key_algorithm == alg.value
    assert info.sha256_fingerprint == hashlib.sha256(p.seal_der).hexdigest()
    assert info.not_before == NOT_BEFORE and info.not_after == NOT_AFTER
    assert not info.is_ca

    cert = asn1_x509.Certificate.load(p.seal_der)
    assert cert.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert cert.extended_key_usage_value is None
    issuer = asn1_x509.Certificate.load(p.intermediate_der)
    assert cert.authority_key_identifier == issuer.key_identifier
    assert cert.key_identifier is not None
    assert cert.issuer == issuer.subject


@pytest.mark.parametrize("alg", ALGS)
def test_ca_profiles(alg: KeyAlgorithm) -> None:
    p = _pki(alg)
    root = asn1_x509.Certificate.load(p.root_der)
    inter = asn1_x509.Certificate.load(p.intermediate_der)
    assert root.self_signed == "maybe" or root.self_signed == "yes"
    assert root.ca and inter.ca
    assert inter.max_path_length == 0
    assert inter.key_usage_value.native == {"key_cert_sign", "crl_sign"}
    assert certificate_summary(p.intermediate_der).is_ca


@pytest.mark.parametrize("alg", [KeyAlgorithm.RSA_3072, KeyAlgorithm.ECDSA_P256])
def test_chain_signatures_verify(alg: KeyAlgorithm) -> None:
    p = pki(alg)
    root = x509.load_der_x509_certificate(p.root_der)
    inter = x509.load_der_x509_certificate(p.intermediate_der)
    seal = x509.load_der_x509_certificate(p.seal_der)
    root.verify_directly_issued_by(root)
    inter.verify_directly_issued_by(root)
    seal.verify_directly_issued_by(inter)


def test_document_signing_eku_on_request() -> None:
    p = pki(KeyAlgorithm.ECDSA_P256)
    der = make_seal_certificate(
        key=p.seal_key,
        department_name=DEPARTMENT_NAME,
        credit_code=credit_code(),
        issuer_certificate_der=p.intermediate_der,
        issuer_key=p.intermediate_key,
        not_before=NOT_BEFORE,
        not_after=NOT_AFTER,
        document_signing_eku=True,
    )
    assert asn1_x509.Certificate.load(der).extended_key_usage_value.native == ["1.3.6.1.5.5.7.3.36"]


def test_bad_credit_code_refused() -> None:
    p = pki(KeyAlgorithm.ECDSA_P256)
    with pytest.raises(ValueError):
        make_seal_certificate(
            key=p.seal_key,
            department_name=DEPARTMENT_NAME,
            credit_code="11110000000000000X",  # wrong check character
            issuer_certificate_der=p.intermediate_der,
            issuer_key=p.intermediate_key,
            not_before=NOT_BEFORE,
            not_after=NOT_AFTER,
        )


def test_issuer_key_must_match_issuer_certificate() -> None:
    p = pki(KeyAlgorithm.ECDSA_P256)
    with pytest.raises(SigningError):
        make_seal_certificate(
            key=p.seal_key,
            department_name=DEPARTMENT_NAME,
            credit_code=credit_code(),
            issuer_certificate_der=p.intermediate_der,
            issuer_key=SealKey.generate(KeyAlgorithm.ECDSA_P256),
            not_before=NOT_BEFORE,
            not_after=NOT_AFTER,
        )


def test_summary_of_garbage() -> None:
    with pytest.raises(InvalidDocumentError):
        certificate_summary(b"not a certificate")
