"""SM2 test PKI built in code: root CA → intermediate CA → seal (end-entity) certificates.

Usage in a conftest or test module::

    @pytest.fixture(scope="session")
    def sm2_pki() -> Sm2Pki:
        return build_sm2_pki()

Everything is deterministic except the keys (fresh from OpenSSL each session) and the pinned
validity window around ``PKI_EPOCH``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from asn1crypto import x509

from certsvc.crypto.sm2 import Sm2PrivateKey
from certsvc.crypto.sm2_certificates import build_sm2_certificate

__all__ = ["PKI_EPOCH", "Sm2Identity", "Sm2Pki", "build_sm2_pki", "issue_sm2_ee"]

PKI_EPOCH = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Sm2Identity:
    key: Sm2PrivateKey
    cert_der: bytes = field(repr=False)

    @property
    def cert(self) -> x509.Certificate:
        return x509.Certificate.load(self.cert_der)


@dataclass(frozen=True)
class Sm2Pki:
    root: Sm2Identity
    intermediate: Sm2Identity
    seal: Sm2Identity  # end-entity: the department's seal signing certificate
    maker: Sm2Identity  # end-entity: 制章者 (seal maker) certificate, issued by the intermediate


_ROOT_NAME = {
    "country_name": "CN",
    "organization_name": "certsvc 测试",
    "common_name": "SM2 测试根CA",
}
_INT_NAME = {
    "country_name": "CN",
    "organization_name": "certsvc 测试",
    "common_name": "SM2 测试中级CA",
}


def issue_sm2_ee(
    issuer: Sm2Identity,
    *,
    common_name: str,
    serial: int,
    not_before: datetime = PKI_EPOCH,
    not_after: datetime = PKI_EPOCH + timedelta(days=3 * 365),
    organization: str = "某某市市场监督管理局",
    key: Sm2PrivateKey | None = None,
) -> Sm2Identity:
    """An end-entity signing certificate (digitalSignature + nonRepudiation)."""
    key = key or Sm2PrivateKey.generate()
    der = build_sm2_certificate(
        subject={
            "country_name": "CN",
            "organization_name": organization,
            "common_name": common_name,
        },
        subject_public_key=key.public_key(),
        issuer_name=issuer.cert.subject,
        issuer_key=issuer.key,
        serial=serial,
        not_before=not_before,
        not_after=not_after,
        is_ca=False,
        path_length=None,
        key_usage={"digital_signature", "non_repudiation"},
    )
    return Sm2Identity(key=key, cert_der=der)


def build_sm2_pki() -> Sm2Pki:
    root_key = Sm2PrivateKey.generate()
    root = Sm2Identity(
        key=root_key,
        cert_der=build_sm2_certificate(
            subject=_ROOT_NAME,
            subject_public_key=root_key.public_key(),
            issuer_name=None,
            issuer_key=root_key,
            serial=1,
            not_before=PKI_EPOCH - timedelta(days=1),
            not_after=PKI_EPOCH + timedelta(days=20 * 365),
            is_ca=True,
            path_length=1,
            key_usage={"key_cert_sign", "crl_sign"},
        ),
    )
    int_key = Sm2PrivateKey.generate()
    intermediate = Sm2Identity(
        key=int_key,
        cert_der=build_sm2_certificate(
            subject=_INT_NAME,
            subject_public_key=int_key.public_key(),
            issuer_name=_ROOT_NAME,
            issuer_key=root_key,
            serial=2,
            not_before=PKI_EPOCH - timedelta(days=1),
            not_after=PKI_EPOCH + timedelta(days=10 * 365),
            is_ca=True,
            path_length=0,
            key_usage={"key_cert_sign", "crl_sign"},
        ),
    )
    seal = issue_sm2_ee(intermediate, common_name="某某市市场监督管理局电子印章", serial=1001)
    maker = issue_sm2_ee(
        intermediate, common_name="certsvc 制章系统", serial=1002, organization="certsvc 测试"
    )
    return Sm2Pki(root=root, intermediate=intermediate, seal=seal, maker=maker)
