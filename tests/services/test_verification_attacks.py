"""Attacked licence files never verify as valid; honest LTV updates still do.

Every attack of ``tests/pdf_attacks.py`` is built from a freshly issued licence of each signing
algorithm. A variant that claims to change the page is rendered with pdftoppm and must look
different from the original, so an attack that silently failed to build cannot pass.
"""

from __future__ import annotations

import functools
import hashlib
import io
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.signers.pdf_signer import PdfTimeStamper
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore

from certsvc.crypto import _sm2_openssl
from certsvc.errors import SigningError
from certsvc.services.context import ServiceContext
from certsvc.services.verification import VerificationService
from tests.pdf_attacks import ATTACKS, Attack, MetaKeepingWriter, byte_range

ALGORITHMS = ("rsa-3072", "ecdsa-p256", "sm2")


@functools.lru_cache(maxsize=64)
def _render(pdf: bytes) -> str:
    """SHA-256 of page 1 rendered small and grey: enough to tell whether the page changed."""
    done = subprocess.run(["pdftoppm", "-r", "24", "-gray", "-f", "1", "-l", "1", "-"], input=pdf, capture_output=True, check=False)
    assert done.returncode == 0 and done.stdout, done.stderr
    return hashlib.sha256(done.stdout).hexdigest()


def _codes(report: Any) -> set[str]:
    return {r.code for r in report.reasons}


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_the_issued_file_is_valid(embedded: ServiceContext, licence_per_algorithm: dict[str, Any], algorithm: str) -> None:
    report = VerificationService(embedded).verify_pdf(licence_per_algorithm[algorithm]["pdf"])
    assert report.verdict.value == "valid", report.reasons
    assert "signature_valid" in _codes(report)


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.name)
@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_attack_does_not_verify(
    embedded: ServiceContext, licence_per_algorithm: dict[str, Any], algorithm: str, attack: Attack
) -> None:
    original = licence_per_algorithm[algorithm]["pdf"]
    attacked = attack.build(original)
    assert attacked != original
    if attack.changes_page:
        assert _render(attacked) != _render(original), f"{attack.name} was meant to change the page but renders the same"
    report = VerificationService(embedded).verify_pdf(attacked)
    assert report.verdict.value != "valid", report.reasons
    assert _codes(report) & attack.expected, (attack.expected, report.reasons)
    assert "signature_valid" not in _codes(report)


def test_an_empty_signature_field_is_named_with_its_page_and_object(
    embedded: ServiceContext, licence_per_algorithm: dict[str, Any]
) -> None:
    attack = next(a for a in ATTACKS if a.name == "empty_signature_field_cover")
    report = VerificationService(embedded).verify_pdf(attack.build(licence_per_algorithm["ecdsa-p256"]["pdf"]))
    (modified,) = [r for r in report.reasons if r.code == "modified_after_signing"]
    assert report.verdict.value == "invalid"
    assert "page 1: page object changed" in modified.message_en and "keys /Annots" in modified.message_en
    assert "interactive form (AcroForm) changed" in modified.message_en
    assert "第 1 页：修改页面对象" in modified.message_zh and "对象 " in modified.message_zh
    assert report.signatures[0].is_intact and report.signatures[0].modification_level == "other"


def test_metadata_rewrite_names_info_and_xmp(embedded: ServiceContext, licence_per_algorithm: dict[str, Any]) -> None:
    original = licence_per_algorithm["sm2"]["pdf"]
    attacked = next(a for a in ATTACKS if a.name == "metadata_rewrite").build(original)
    info = subprocess.run(["pdfinfo", "-"], input=attacked, capture_output=True, check=True).stdout.decode()
    assert "2099" in info  # the generator really rewrote the title
    report = VerificationService(embedded).verify_pdf(attacked)
    (modified,) = [r for r in report.reasons if r.code == "modified_after_signing"]
    assert "document information dictionary (Info) changed" in modified.message_en
    assert "XMP metadata added" in modified.message_en
    assert "文档信息字典（Info）" in modified.message_zh


def test_appended_bytes_say_the_signed_revision_is_intact(embedded: ServiceContext, licence_per_algorithm: dict[str, Any]) -> None:
    original = licence_per_algorithm["rsa-3072"]["pdf"]
    report = VerificationService(embedded).verify_pdf(original + b"junk after the end\n" * 100)
    (appended,) = [r for r in report.reasons if r.code == "appended_data"]
    assert report.verdict.value == "invalid"
    assert "1900 bytes; the signed revision is intact" in appended.message_en
    assert "签章所覆盖的修订完好" in appended.message_zh
    assert report.registry is not None and report.registry.identifier == licence_per_algorithm["rsa-3072"]["identifier"]


def test_white_space_after_the_end_is_not_data(embedded: ServiceContext, licence_per_algorithm: dict[str, Any]) -> None:
    report = VerificationService(embedded).verify_pdf(licence_per_algorithm["ecdsa-p256"]["pdf"] + b"\r\n  \n")
    assert report.verdict.value == "valid", report.reasons


@pytest.fixture(scope="module")
def tsa() -> DummyTimeStamper:
    """A time-stamping authority in code (pyHanko's test TSA signs with RSA only)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "锡林郭勒盟测试时间戳服务")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return DummyTimeStamper(
        tsa_cert=asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)),
        tsa_key=asn1_keys.PrivateKeyInfo.load(key_der),
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_pades_ltv_updates_are_harmless(
    embedded: ServiceContext, licence_per_algorithm: dict[str, Any], tsa: DummyTimeStamper, algorithm: str
) -> None:
    """A DSS with a VRI entry, then a document time-stamp: the licence stays valid."""
    original = licence_per_algorithm[algorithm]["pdf"]
    _, _, gap_start, gap_end, _ = byte_range(original)
    seal_contents = bytes.fromhex(original[gap_start + 1 : gap_end - 1].decode())
    writer = MetaKeepingWriter(io.BytesIO(original))
    DocumentSecurityStore.supply_dss_in_writer(writer, seal_contents, certs=[tsa.tsa_cert])
    with_dss = io.BytesIO()
    writer.write(with_dss)
    stamped = io.BytesIO()
    PdfTimeStamper(timestamper=tsa).timestamp_pdf(MetaKeepingWriter(io.BytesIO(with_dss.getvalue())), "sha256", output=stamped)
    ltv = stamped.getvalue()
    assert b"/DSS" in ltv and b"/ETSI.RFC3161" in ltv and b"/VRI" in ltv
    assert _render(ltv) == _render(original)
    report = VerificationService(embedded).verify_pdf(ltv)
    assert report.verdict.value == "valid", report.reasons
    seal, *stamps = report.signatures  # B-LTA licences carry their own document time-stamp already
    assert seal.modification_level == "archival" and seal.is_intact
    assert stamps and all(stamp.is_intact for stamp in stamps)


def test_sm2_that_cannot_be_evaluated_is_not_called_forged(
    embedded: ServiceContext, licence_per_algorithm: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """libcrypto refusing to set up a verification is our failure: indeterminate, never broken."""

    def no_context(*args: object, **kwargs: object) -> object:
        raise SigningError("cannot initialise SM2 operation: (injected)")

    monkeypatch.setattr(_sm2_openssl, "_operation_ctx", no_context)
    # The full validator: the issued bytes would otherwise reuse the outcome recorded at sealing.
    report = VerificationService(embedded).verify_pdf(licence_per_algorithm["sm2"]["pdf"], full=True)
    assert "signature_not_evaluated" in _codes(report)
    assert "signature_broken" not in _codes(report) and "modified_after_signing" not in _codes(report)
    assert report.verdict.value == "indeterminate"
