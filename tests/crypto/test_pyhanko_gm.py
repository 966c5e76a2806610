"""PDF signing and validation with SM2/SM3 through pyHanko (Sm2Signer + GmSignatureValidator)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from asn1crypto import cms
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import signers
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore
from reportlab.pdfgen import canvas

from certsvc.crypto._pyhanko_gm import GmSignatureValidator, Sm2Signer
from certsvc.crypto.sm2 import Sm2PrivateKey
from tests.sm2_pki import PKI_EPOCH, Sm2Pki, build_sm2_pki

pytestmark = pytest.mark.db_independent

MOMENT = PKI_EPOCH + timedelta(days=180)  # pinned validation time


@pytest.fixture(scope="module")
def pki() -> Sm2Pki:
    return build_sm2_pki()


def _pdf() -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pageCompression=0)
    c.drawString(100, 750, "Hello SM2 seal")
    c.save()
    return buf.getvalue()


def _sign(pki: Sm2Pki, pdf: bytes) -> bytes:
    signer = Sm2Signer(
        signing_key=pki.seal.key,
        signing_cert=pki.seal.cert,
        cert_registry=SimpleCertificateStore.from_certs([pki.intermediate.cert]),
    )
    meta = signers.PdfSignatureMetadata(field_name="Sig1", md_algorithm="sm3")
    out = signers.PdfSigner(meta, signer=signer).sign_pdf(IncrementalPdfFileWriter(io.BytesIO(pdf)))
    return out.getvalue()


def _vc(pki: Sm2Pki) -> ValidationContext:
    return ValidationContext(
        trust_roots=[pki.root.cert],
        signature_validator=GmSignatureValidator(),
        allow_fetching=False,
        moment=MOMENT,
    )


def _validate(pki: Sm2Pki, pdf: bytes):  # type: ignore[no-untyped-def]
    sig = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    return validate_pdf_signature(sig, _vc(pki))


@pytest.fixture(scope="module")
def signed_pdf(pki: Sm2Pki) -> bytes:
    return _sign(pki, _pdf())


def test_sign_and_validate_chain(pki: Sm2Pki, signed_pdf: bytes) -> None:
    status = _validate(pki, signed_pdf)
    assert status.intact and status.valid and status.trusted
    assert status.bottom_line
    assert status.md_algorithm == "sm3"
    assert status.pkcs7_signature_mechanism == "sm2_sm3"
    sig = PdfFileReader(io.BytesIO(signed_pdf)).embedded_signatures[0]
    si = sig.signer_info
    assert si["digest_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    assert si["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    assert sig.sig_object["/SubFilter"] == "/adbe.pkcs7.detached"


def test_one_byte_changed_is_not_intact(pki: Sm2Pki, signed_pdf: bytes) -> None:
    idx = signed_pdf.index(b"Hello SM2 seal")
    tampered = signed_pdf[:idx] + b"J" + signed_pdf[idx + 1 :]
    status = _validate(pki, tampered)
    assert not status.intact
    assert not status.bottom_line


def test_untrusted_root(pki: Sm2Pki, signed_pdf: bytes) -> None:
    other = build_sm2_pki()
    status = _validate(other, signed_pdf)
    assert status.intact and status.valid
    assert not status.trusted


def test_wrong_key_for_certificate_is_refused(pki: Sm2Pki) -> None:
    with pytest.raises(ValueError):
        Sm2Signer(signing_key=Sm2PrivateKey.generate(), signing_cert=pki.seal.cert)


def test_non_sm3_digest_is_refused(pki: Sm2Pki) -> None:
    signer = Sm2Signer(signing_key=pki.seal.key, signing_cert=pki.seal.cert)
    meta = signers.PdfSignatureMetadata(field_name="Sig1", md_algorithm="sha256")
    with pytest.raises(Exception, match="sm3"):
        signers.PdfSigner(meta, signer=signer).sign_pdf(
            IncrementalPdfFileWriter(io.BytesIO(_pdf()))
        )


def _to_gm0010(pdf: bytes, key: Sm2PrivateKey, *, raw_signature: bool = False) -> bytes:
    """Rewrite the CMS in /Contents into the GM/T 0010 (GB/T 35275) flavour and re-sign it.

    ContentInfo 1.2.156.10197.6.1.4.2.2, eContentType/content-type attribute
    1.2.156.10197.6.1.4.2.1, digestEncryptionAlgorithm sm2-1 1.2.156.10197.1.301.1, version 1,
    no CMSAlgorithmProtection. /Contents lies outside the ByteRange, so the digest stays valid.
    """
    emb = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    br = emb.byte_range
    start, end = br[0] + br[1], br[2]
    hex_contents = pdf[start + 1 : end - 1]
    sd = cms.ContentInfo.load(bytes.fromhex(hex_contents.decode()))["content"]
    si = sd["signer_infos"][0]
    attrs = []
    for attr in si["signed_attrs"]:
        kind = attr["type"].native
        if kind == "cms_algorithm_protection":
            continue
        if kind == "content_type":
            attr = cms.CMSAttribute(
                {"type": "content_type", "values": [cms.ContentType("1.2.156.10197.6.1.4.2.1")]}
            )
        attrs.append(attr)
    signed_attrs = cms.CMSAttributes(attrs)
    signature = key.sign(signed_attrs.dump())
    if raw_signature:
        from asn1crypto import algos

        rs = algos.DSASignature.load(signature)
        signature = rs["r"].native.to_bytes(32, "big") + rs["s"].native.to_bytes(32, "big")
    new_si = cms.SignerInfo(
        {
            "version": "v1",
            "sid": si["sid"],
            "digest_algorithm": si["digest_algorithm"],
            "signed_attrs": signed_attrs,
            "signature_algorithm": {"algorithm": "1.2.156.10197.1.301.1"},
            "signature": signature,
        }
    )
    new_sd = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": sd["digest_algorithms"],
            "encap_content_info": {"content_type": "1.2.156.10197.6.1.4.2.1"},
            "certificates": sd["certificates"],
            "signer_infos": [new_si],
        }
    )
    der = cms.ContentInfo({"content_type": "1.2.156.10197.6.1.4.2.2", "content": new_sd}).dump()
    assert der[:20].hex().find("2a811ccf550601040202") >= 0  # really the GM content type
    new_hex = der.hex().encode().ljust(len(hex_contents), b"0")
    assert len(new_hex) == len(hex_contents)
    return pdf[: start + 1] + new_hex + pdf[end - 1 :]


@pytest.mark.parametrize("raw_signature", [False, True])
def test_gm0010_flavour_validates(pki: Sm2Pki, signed_pdf: bytes, raw_signature: bool) -> None:
    gm = _to_gm0010(signed_pdf, pki.seal.key, raw_signature=raw_signature)
    sig = PdfFileReader(io.BytesIO(gm)).embedded_signatures[0]
    assert sig.signed_data["encap_content_info"]["content_type"].dotted == "1.2.156.10197.6.1.4.2.1"
    status = validate_pdf_signature(sig, _vc(pki))
    assert status.intact and status.valid and status.trusted
    assert status.pkcs7_signature_mechanism == "sm2sign"


def test_gm0010_flavour_wrong_signature(pki: Sm2Pki, signed_pdf: bytes) -> None:
    gm = _to_gm0010(signed_pdf, pki.maker.key)  # signed by a key that is not the cert's
    status = _validate(pki, gm)
    assert status.intact and not status.valid
