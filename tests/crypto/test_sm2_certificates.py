"""SM2 X.509 certificates built by certsvc.crypto.sm2_certificates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509

from certsvc.crypto.sm2 import Sm2PrivateKey, Sm2PublicKey
from certsvc.crypto.sm2_certificates import (
    build_sm2_certificate,
    key_identifier,
    verify_sm2_certificate_signature,
)
from tests.sm2_pki import Sm2Pki, build_sm2_pki

pytestmark = pytest.mark.db_independent


@pytest.fixture(scope="module")
def pki() -> Sm2Pki:
    return build_sm2_pki()


def test_chain_signatures(pki: Sm2Pki) -> None:
    root_pub = pki.root.key.public_key()
    int_pub = pki.intermediate.key.public_key()
    assert verify_sm2_certificate_signature(pki.root.cert_der, root_pub)
    assert verify_sm2_certificate_signature(pki.intermediate.cert_der, root_pub)
    assert verify_sm2_certificate_signature(pki.seal.cert_der, int_pub)
    assert not verify_sm2_certificate_signature(pki.seal.cert_der, root_pub)
    assert not verify_sm2_certificate_signature(b"not a cert", root_pub)


def test_tampered_certificate_fails(pki: Sm2Pki) -> None:
    der = bytearray(pki.seal.cert_der)
    idx = der.find("电子印章".encode())
    der[idx] ^= 0x01
    assert not verify_sm2_certificate_signature(bytes(der), pki.intermediate.key.public_key())


def test_fields(pki: Sm2Pki) -> None:
    cert = pki.intermediate.cert
    assert cert["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    assert cert["tbs_certificate"]["signature"]["algorithm"].dotted == "1.2.156.10197.1.501"
    assert cert["signature_algorithm"]["parameters"].native is None
    assert cert.ca and cert.max_path_length == 0
    assert cert.key_usage_value.native == {"key_cert_sign", "crl_sign"}
    assert cert.issuer == pki.root.cert.subject
    assert cert.subject.native["common_name"] == "SM2 测试中级CA"
    assert cert.key_identifier == key_identifier(pki.intermediate.key.public_key())
    assert cert.authority_key_identifier == pki.root.cert.key_identifier
    seal = pki.seal.cert
    assert not seal.ca
    assert seal.key_usage_value.native == {"digital_signature", "non_repudiation"}
    assert Sm2PublicKey.from_spki_der(seal.public_key.dump()) == pki.seal.key.public_key()


def test_generalized_time_after_2049() -> None:
    key = Sm2PrivateKey.generate()
    der = build_sm2_certificate(
        subject={"common_name": "long"},
        subject_public_key=key.public_key(),
        issuer_name=None,
        issuer_key=key,
        serial=7,
        not_before=datetime(2049, 6, 1, tzinfo=UTC),
        not_after=datetime(2051, 1, 1, tzinfo=UTC),
        is_ca=False,
        path_length=None,
        key_usage={"digital_signature"},
    )
    validity = x509.Certificate.load(der)["tbs_certificate"]["validity"]
    assert validity["not_before"].name == "utc_time"
    assert validity["not_after"].name == "general_time"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"serial": 0},
        {"key_usage": {"sign_everything"}},
        {"not_after": datetime(2024, 1, 1, tzinfo=UTC)},
        {"not_before": datetime(2025, 1, 1)},
    ],
)
def test_bad_arguments(kwargs: dict[str, object]) -> None:
    key = Sm2PrivateKey.generate()
    args: dict[str, object] = {
        "subject": {"common_name": "x"},
        "subject_public_key": key.public_key(),
        "issuer_name": None,
        "issuer_key": key,
        "serial": 1,
        "not_before": datetime(2025, 1, 1, tzinfo=UTC),
        "not_after": datetime(2025, 1, 1, tzinfo=UTC) + timedelta(days=1),
        "is_ca": False,
        "path_length": None,
        "key_usage": {"digital_signature"},
    }
    args.update(kwargs)
    with pytest.raises(ValueError):
        build_sm2_certificate(**args)  # type: ignore[arg-type]
