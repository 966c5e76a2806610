"""GB/T 38540 v4 seals and signatures."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from asn1crypto import core
from PIL import Image

from certsvc.crypto import ses, ses_asn1, ses_verification
from certsvc.crypto.sm2 import sm3
from certsvc.errors import SigningError
from tests.sm2_pki import PKI_EPOCH, Sm2Pki, build_sm2_pki, issue_sm2_ee

pytestmark = pytest.mark.db_independent

VALID_START = PKI_EPOCH
VALID_END = PKI_EPOCH + timedelta(days=365)
SIGNED_AT = PKI_EPOCH + timedelta(days=30)
DOC = "<ofd:Signature>…</ofd:Signature>".encode()
PROPERTY = "/Doc_0/Signs/Sign_0/Signature.xml"


@pytest.fixture(scope="module")
def pki() -> Sm2Pki:
    return build_sm2_pki()


@pytest.fixture(scope="module")
def png() -> bytes:
    buf = io.BytesIO()
    Image.new("RGBA", (64, 64), (200, 0, 0, 255)).save(buf, "PNG")
    return buf.getvalue()


def _seal(pki: Sm2Pki, png: bytes, **overrides: object) -> bytes:
    args: dict[str, object] = {
        "es_id": "3301000000001",
        "seal_name": "某某市市场监督管理局行政审批专用章",
        "seal_type": 1,
        "signer_cert_ders": [pki.seal.cert_der],
        "valid_start": VALID_START,
        "valid_end": VALID_END,
        "created_at": PKI_EPOCH,
        "picture_png": png,
        "width_mm": 42,
        "height_mm": 42,
        "maker_cert_der": pki.maker.cert_der,
        "maker_key": pki.maker.key,
    }
    args.update(overrides)
    return ses.make_seal(**args)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def seal_der(pki: Sm2Pki, png: bytes) -> bytes:
    return _seal(pki, png)


@pytest.fixture(scope="module")
def signature_der(pki: Sm2Pki, seal_der: bytes) -> bytes:
    return ses.sign_document(
        seal_der=seal_der,
        signer_key=pki.seal.key,
        signer_cert_der=pki.seal.cert_der,
        data_hash_sm3=sm3(DOC),
        property_info=PROPERTY,
        signed_at=SIGNED_AT,
    )


def _verify(pki: Sm2Pki, sig: bytes, **kw: object) -> ses_verification.SesVerificationReport:
    args: dict[str, object] = {
        "document_hash": sm3(DOC),
        "maker_trust": [pki.root.cert_der, pki.intermediate.cert_der],
    }
    args.update(kw)
    return ses_verification.verify_ses_signature(sig, **args)  # type: ignore[arg-type]


def test_seal_parses_back(pki: Sm2Pki, png: bytes, seal_der: bytes) -> None:
    seal = ses.parse_seal(seal_der)
    assert seal.version == 4 and seal.vendor_id == "certsvc" and seal.es_id == "3301000000001"
    assert seal.seal_type == 1 and seal.seal_name == "某某市市场监督管理局行政审批专用章"
    assert seal.cert_list_type == 1 and seal.signer_cert_ders == (pki.seal.cert_der,)
    assert seal.created_at == PKI_EPOCH
    assert (seal.valid_start, seal.valid_end) == (VALID_START, VALID_END)
    assert (seal.picture_type, seal.picture_data, seal.width_mm, seal.height_mm) == (
        "PNG",
        png,
        42,
        42,
    )
    assert seal.maker_cert_der == pki.maker.cert_der
    assert seal.sign_alg_oid == "1.2.156.10197.1.501"
    assert pki.maker.key.public_key().verify(seal.signed_value, seal.seal_info_der)


def test_seal_asn1_shape(seal_der: bytes) -> None:
    seq = core.Sequence.load(seal_der)
    assert len(seq) == 4  # v4 SESeal has four fields (STANDARDS §1.1)
    raw = ses_asn1.SESeal.load(seal_der)
    assert raw["e_seal_info"]["header"].native == {"id": "ES", "version": 4, "vid": "certsvc"}
    assert isinstance(raw["e_seal_info"]["property"]["cert_list"], ses_asn1.SES_CertList_Certs)


def test_signature_parses_and_verifies(pki: Sm2Pki, seal_der: bytes, signature_der: bytes) -> None:
    info = ses.parse_signature(signature_der)
    assert info.version == 4 and info.seal_der == seal_der
    assert info.signed_at == SIGNED_AT and info.data_hash == sm3(DOC)
    assert info.property_info == PROPERTY and info.signer_cert_der == pki.seal.cert_der
    assert info.signature_alg_oid == "1.2.156.10197.1.501" and info.time_stamp is None
    report = _verify(pki, signature_der)
    assert report.is_valid, report.reasons
    assert report.reasons == ()


def test_seal_signature_verifies_with_only_the_maker_pinned(
    pki: Sm2Pki, signature_der: bytes
) -> None:
    assert _verify(pki, signature_der, maker_trust=[pki.maker.cert_der]).is_valid
    assert _verify(pki, signature_der, maker_trust=lambda der: der == pki.maker.cert_der).is_valid


def test_expired_seal(pki: Sm2Pki, signature_der: bytes) -> None:
    report = _verify(pki, signature_der, at=VALID_END + timedelta(days=1))
    assert not report.is_valid and report.codes == ("seal_expired",)
    report = _verify(pki, signature_der, at=VALID_START - timedelta(days=1))
    assert "seal_not_yet_valid" in report.codes  # (the signer cert also starts at VALID_START)


def test_signed_after_seal_expiry(pki: Sm2Pki, seal_der: bytes) -> None:
    with pytest.raises(SigningError):
        ses.sign_document(
            seal_der=seal_der,
            signer_key=pki.seal.key,
            signer_cert_der=pki.seal.cert_der,
            data_hash_sm3=sm3(DOC),
            property_info=PROPERTY,
            signed_at=VALID_END + timedelta(days=2),
        )
    late = ses._assemble_signature(
        seal_der=seal_der,
        signer_key=pki.seal.key,
        signer_cert_der=pki.seal.cert_der,
        data_hash_sm3=sm3(DOC),
        property_info=PROPERTY,
        signed_at=VALID_END + timedelta(days=2),
    )
    assert _verify(pki, late).codes == ("seal_expired",)


def test_signer_not_in_seal_list(pki: Sm2Pki, seal_der: bytes) -> None:
    stranger = issue_sm2_ee(pki.intermediate, common_name="未授权的人", serial=4242)
    with pytest.raises(SigningError) as exc:
        ses.sign_document(
            seal_der=seal_der,
            signer_key=stranger.key,
            signer_cert_der=stranger.cert_der,
            data_hash_sm3=sm3(DOC),
            property_info=PROPERTY,
            signed_at=SIGNED_AT,
        )
    assert exc.value.code == "signer_not_in_seal_list"
    forged = ses._assemble_signature(
        seal_der=seal_der,
        signer_key=stranger.key,
        signer_cert_der=stranger.cert_der,
        data_hash_sm3=sm3(DOC),
        property_info=PROPERTY,
        signed_at=SIGNED_AT,
    )
    assert _verify(pki, forged).codes == ("signer_not_in_seal_list",)


def test_wrong_data_hash(pki: Sm2Pki, signature_der: bytes) -> None:
    report = _verify(pki, signature_der, document_hash=sm3(DOC + b" "))
    assert report.codes == ("data_hash_mismatch",)


def test_maker_untrusted(pki: Sm2Pki, signature_der: bytes) -> None:
    other = build_sm2_pki()
    report = _verify(pki, signature_der, maker_trust=[other.root.cert_der, other.maker.cert_der])
    assert report.codes == ("maker_untrusted",)
    assert _verify(pki, signature_der, maker_trust=lambda der: False).codes == ("maker_untrusted",)


def test_seal_not_signed_by_its_maker(pki: Sm2Pki, png: bytes) -> None:
    # A seal whose maker field names a trusted maker but whose signature is someone else's.
    good = ses_asn1.SESeal.load(_seal(pki, png))
    forged_sig = pki.seal.key.sign(good["e_seal_info"].dump())
    forged = ses_asn1.SESeal(
        {
            "e_seal_info": good["e_seal_info"],
            "cert": pki.maker.cert_der,
            "sign_alg_id": "1.2.156.10197.1.501",
            "signed_value": forged_sig,
        }
    ).dump()
    sig = ses._assemble_signature(
        seal_der=forged,
        signer_key=pki.seal.key,
        signer_cert_der=pki.seal.cert_der,
        data_hash_sm3=sm3(DOC),
        property_info=PROPERTY,
        signed_at=SIGNED_AT,
    )
    assert _verify(pki, sig).codes == ("seal_signature_invalid",)


def test_tampered_signature_value(pki: Sm2Pki, signature_der: bytes) -> None:
    sig = ses_asn1.SES_Signature.load(signature_der)
    info = ses.parse_signature(signature_der)
    other_key_sig = pki.maker.key.sign(info.tbs_der)
    bad = ses_asn1.SES_Signature(
        {
            "to_sign": sig["to_sign"],
            "cert": sig["cert"],
            "signature_alg_id": sig["signature_alg_id"],
            "signature": other_key_sig,
        }
    )
    assert _verify(pki, bad.dump()).codes == ("ses_signature_invalid",)


def test_raw_rs_and_untagged_optional_fields(pki: Sm2Pki, signature_der: bytes) -> None:
    from asn1crypto import algos

    sig = ses_asn1.SES_Signature.load(signature_der)
    rs = algos.DSASignature.load(sig["signature"].native)
    raw = rs["r"].native.to_bytes(32, "big") + rs["s"].native.to_bytes(32, "big")
    # Chingliu-style: untagged timeStamp after the signature.
    variant = ses_asn1.SES_Signature(
        {
            "to_sign": sig["to_sign"],
            "cert": sig["cert"],
            "signature_alg_id": sig["signature_alg_id"],
            "signature": raw,
            "time_stamp_untagged": b"\x30\x00",
        }
    )
    info = ses.parse_signature(variant.dump())
    assert info.time_stamp == b"\x30\x00"
    assert _verify(pki, variant.dump()).is_valid
    # ofdrw-style: [0] EXPLICIT timeStamp
    tagged = ses_asn1.SES_Signature(
        {
            "to_sign": sig["to_sign"],
            "cert": sig["cert"],
            "signature_alg_id": sig["signature_alg_id"],
            "signature": sig["signature"],
            "time_stamp": b"\x30\x00",
        }
    )
    assert ses.parse_signature(tagged.dump()).time_stamp == b"\x30\x00"
    assert _verify(pki, tagged.dump()).is_valid


def test_tbs_ext_datas_tagged_and_untagged(pki: Sm2Pki, seal_der: bytes) -> None:
    ext = [{"extn_id": "1.2.3.4", "extn_value": b"x"}]
    for field in ("ext_datas", "ext_datas_untagged"):
        tbs = ses_asn1.TBS_Sign(
            {
                "version": 4,
                "eseal": ses_asn1.SESeal.load(seal_der),
                "time_info": core.GeneralizedTime(SIGNED_AT),
                "data_hash": sm3(DOC),
                "property_info": PROPERTY,
                field: ext,
            }
        )
        sig = ses_asn1.SES_Signature(
            {
                "to_sign": tbs,
                "cert": pki.seal.cert_der,
                "signature_alg_id": "1.2.156.10197.1.501",
                "signature": pki.seal.key.sign(tbs.dump()),
            }
        )
        assert _verify(pki, sig.dump()).is_valid, field


def test_cert_digest_list_seal(pki: Sm2Pki, png: bytes) -> None:
    base = ses_asn1.SESeal.load(_seal(pki, png))
    info = base["e_seal_info"]
    prop = info["property"]
    new_prop = ses_asn1.SES_ESPropertyInfo(
        {
            "type": prop["type"],
            "name": prop["name"],
            "cert_list_type": 2,
            "cert_list": ses_asn1.SES_CertList_Digests(
                [{"type": "SM3", "value": sm3(pki.seal.cert_der)}]
            ),
            "create_date": prop["create_date"],
            "valid_start": prop["valid_start"],
            "valid_end": prop["valid_end"],
        }
    )
    new_info = ses_asn1.SES_SealInfo(
        {
            "header": info["header"],
            "es_id": info["es_id"],
            "property": new_prop,
            "picture": info["picture"],
        }
    )
    seal = ses_asn1.SESeal(
        {
            "e_seal_info": new_info,
            "cert": pki.maker.cert_der,
            "sign_alg_id": "1.2.156.10197.1.501",
            "signed_value": pki.maker.key.sign(new_info.dump()),
        }
    ).dump()
    parsed = ses.parse_seal(seal)
    assert parsed.cert_list_type == 2 and parsed.signer_cert_digests == (
        ("SM3", sm3(pki.seal.cert_der)),
    )
    sig = ses.sign_document(
        seal_der=seal,
        signer_key=pki.seal.key,
        signer_cert_der=pki.seal.cert_der,
        data_hash_sm3=sm3(DOC),
        property_info=PROPERTY,
        signed_at=SIGNED_AT,
    )
    assert _verify(pki, sig).is_valid


def test_malformed_input() -> None:
    report = ses_verification.verify_ses_signature(b"\x30\x03\x02\x01\x01", document_hash=b"", maker_trust=[])
    assert report.codes == ("ses_malformed",)
    with pytest.raises(ValueError):
        ses.parse_seal(b"garbage")


def test_make_seal_argument_checks(pki: Sm2Pki, png: bytes) -> None:
    with pytest.raises(ValueError):
        _seal(pki, png, es_id="印章1")
    with pytest.raises(ValueError):
        _seal(pki, png, picture_png=b"GIF89a")
    with pytest.raises(ValueError):
        _seal(pki, png, signer_cert_ders=[])
    with pytest.raises(SigningError):
        _seal(pki, png, maker_key=pki.seal.key)
