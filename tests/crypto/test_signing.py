"""The signing-key interface: one contract for every backend, and every signer going through it.

``_TokenLikeKey`` stands in for a backend other than key files (a PKCS#11 token): it signs by
delegating, so the signers cannot reach a private key object. PDF sealing, GB/T 38540
structures and QR payloads must all work with it.
"""

from __future__ import annotations

import io
from datetime import date, timedelta

import pytest
from PIL import Image

from certsvc.crypto import ses
from certsvc.crypto.api import (
    EncryptedKeyFiles,
    KeyAlgorithm,
    LoadedKey,
    PdfSealer,
    QrClaims,
    SealKey,
    SigningKey,
    decode_qr_payload,
    generate_private_key_pem,
    load_verifying_key,
    sign_qr_payload,
    validate_pdf,
    verify_detached,
)
from certsvc.crypto.ses_pdf import sign_pdf_ranges, verify_pdf_ranges
from certsvc.crypto.signing import sm2_signing
from certsvc.domain.layout import SealBox
from certsvc.errors import KeyUnavailableError, SigningError
from tests.pki import DEPARTMENT_NAME, SIGNED_AT, pki, sample_pdf, seal_png
from tests.sm2_pki import PKI_EPOCH, build_sm2_pki

pytestmark = pytest.mark.db_independent

ALGORITHMS = [KeyAlgorithm.RSA_3072, KeyAlgorithm.ECDSA_P256, KeyAlgorithm.SM2]
BOX = SealBox(0, 380, 80, 520, 220)


class _TokenLikeKey(SigningKey):
    """Another backend: signs through a key it does not expose, and counts the signatures."""

    def __init__(self, inner: SigningKey) -> None:
        self._inner = inner
        self.signatures = 0

    @property
    def algorithm(self) -> KeyAlgorithm:
        return self._inner.algorithm

    @property
    def certificate_der(self) -> bytes:
        return self._inner.certificate_der

    @property
    def chain_der(self) -> tuple[bytes, ...]:
        return self._inner.chain_der

    def public_key_spki_der(self) -> bytes:
        return self._inner.public_key_spki_der()

    def sign(self, message: bytes, *, digest_algorithm: str) -> bytes:
        self.signatures += 1
        return self._inner.sign(message, digest_algorithm=digest_algorithm)


def _flip_last_byte(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=str)
def test_contract_sign_verify_then_one_changed_byte_fails(algorithm: KeyAlgorithm) -> None:
    for key in (pki(algorithm).signing_key, _TokenLikeKey(pki(algorithm).signing_key)):
        message = "锡林郭勒盟行政审批局 · 电子证照".encode()
        signature = key.sign(message, digest_algorithm=key.digest_algorithm)
        assert verify_detached(key.public_key_spki_der(), signature, message)
        assert not verify_detached(key.public_key_spki_der(), signature, _flip_last_byte(message))
        assert key.certificate_der == pki(algorithm).seal_der


@pytest.mark.parametrize("algorithm", [KeyAlgorithm.ECDSA_P256, KeyAlgorithm.SM2], ids=str)
def test_pdf_seals_and_qr_payloads_are_made_through_the_interface(algorithm: KeyAlgorithm) -> None:
    p = pki(algorithm)
    key = _TokenLikeKey(p.signing_key)
    sealed = PdfSealer(key=key, seal_image_png=seal_png()).seal(
        sample_pdf(), box=BOX, department_name=DEPARTMENT_NAME, signed_at=SIGNED_AT, reason="test"
    )
    assert validate_pdf(sealed, trust_roots_der=[p.root_der]).bottom_line
    assert not validate_pdf(_flip_last_byte(sealed[:-200]) + sealed[-200:], trust_roots_der=[p.root_der]).bottom_line
    after_sealing = key.signatures
    assert after_sealing >= 1

    claims = QrClaims(
        identifier="1.2.156.3005.2.11100000MB0143028R001.11152500011512829G.2026000001.001.0",
        issued_on=date(2026, 3, 15),
        valid_from=date(2026, 3, 15),
        valid_until=date(2031, 3, 14),
        data_digest=bytes(32),
        holder_name_masked="锡林浩特市*****公司",
        holder_id_masked="9115**********4K7B",
    )
    payload = decode_qr_payload(claims.identifier, sign_qr_payload(claims, key))
    verifying = load_verifying_key(algorithm, key.public_key_spki_der())
    assert verifying.verify(payload.signature, payload.signed_message)
    assert not verifying.verify(payload.signature, _flip_last_byte(payload.signed_message))
    assert key.signatures == after_sealing + 1


def test_gbt38540_signature_is_made_through_the_interface() -> None:
    sm2 = build_sm2_pki()
    image = io.BytesIO()
    Image.new("RGBA", (64, 64), (200, 0, 0, 255)).save(image, "PNG")
    seal_der = ses.make_seal(
        es_id="1525000000001",
        seal_name="锡林郭勒盟行政审批和政务服务局行政审批专用章",
        seal_type=1,
        signer_cert_ders=[sm2.seal.cert_der],
        valid_start=PKI_EPOCH,
        valid_end=PKI_EPOCH + timedelta(days=365),
        created_at=PKI_EPOCH,
        picture_png=image.getvalue(),
        width_mm=42,
        height_mm=42,
        maker_cert_der=sm2.maker.cert_der,
        maker_key=sm2.maker.key,
    )
    seal_key = SealKey.from_pem(sm2.seal.key.to_pem(b"test-only"), b"test-only")
    key = _TokenLikeKey(LoadedKey(seal_key, certificate_der=sm2.seal.cert_der))
    signed_pdf = PdfSealer(key=pki(KeyAlgorithm.ECDSA_P256).signing_key, seal_image_png=seal_png()).seal(
        sample_pdf(), box=BOX, department_name=DEPARTMENT_NAME, signed_at=SIGNED_AT, reason="test"
    )
    signature = sign_pdf_ranges(signed_pdf, seal_der=seal_der, key=key, signed_at=PKI_EPOCH + timedelta(days=30))
    assert key.signatures == 1
    trust = [sm2.root.cert_der, sm2.intermediate.cert_der]
    assert verify_pdf_ranges(signed_pdf, signature, maker_certificates_der=trust).is_valid
    changed = signed_pdf.replace(b"%PDF", b"%PDX", 1)
    assert not verify_pdf_ranges(changed, signature, maker_certificates_der=trust).is_valid


def test_sm2_structures_refuse_other_keys_and_other_signer_ids() -> None:
    with pytest.raises(SigningError):
        sm2_signing(pki(KeyAlgorithm.ECDSA_P256).signing_key)
    view = sm2_signing(pki(KeyAlgorithm.SM2).signing_key)
    assert view.public_key().to_spki_der() == pki(KeyAlgorithm.SM2).signing_key.public_key_spki_der()
    with pytest.raises(SigningError):
        view.sign(b"message", signer_id=b"ALICE123@YAHOO.COM")


@pytest.mark.parametrize("algorithm", ALGORITHMS, ids=str)
def test_encrypted_key_files_open_keys_by_reference(algorithm: KeyAlgorithm) -> None:
    stored = {"seal-1": generate_private_key_pem(algorithm, b"correct horse")}
    passphrase = [b"correct horse"]
    source = EncryptedKeyFiles(read_pem=stored.__getitem__, passphrase=lambda: passphrase[0])
    certificate, chain = b"certificate", (b"intermediate", b"root")  # carried, not parsed, by the key
    key = source.open("seal-1", certificate_der=certificate, chain_der=chain)
    assert (key.algorithm, key.certificate_der, key.chain_der) == (algorithm, certificate, chain)
    assert repr(key) == f"LoadedKey(algorithm={algorithm.value!r})"
    message = b"trust list"
    assert verify_detached(key.public_key_spki_der(), key.sign(message, digest_algorithm=key.digest_algorithm), message)
    key.close()
    with pytest.raises(KeyUnavailableError):
        key.sign(message, digest_algorithm=key.digest_algorithm)
    passphrase[0] = b"wrong"
    with pytest.raises(KeyUnavailableError):
        source.open("seal-1", certificate_der=certificate, chain_der=chain)
