"""PdfSealer + validate_pdf: one contract suite over every signing backend, plus the cases a
verifier must catch (tampering, content added after signing, untrusted signer, bad input)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import subprocess
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import cms
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes

from certsvc.crypto.api import (
    KeyAlgorithm,
    LoadedKey,
    ModificationLevel,
    PdfSealer,
    validate_pdf,
)
from certsvc.crypto.pdf_cms import _EncodedContentInfo
from certsvc.domain.layout import SealBox
from certsvc.errors import InvalidDocumentError, SigningError
from tests.pki import (
    DEPARTMENT_NAME,
    SIGNED_AT,
    TestPki,
    pki,
    rogue_pki,
    sample_pdf,
    seal_png,
)

pytestmark = pytest.mark.db_independent

BOX = SealBox(page_index=0, x1=380, y1=80, x2=520, y2=220)
ALL_BACKENDS = [KeyAlgorithm.RSA_3072, KeyAlgorithm.ECDSA_P256, KeyAlgorithm.SM2]
EXPECTED_ALGORITHM = {
    KeyAlgorithm.RSA_3072: "rsa-sha256",
    KeyAlgorithm.ECDSA_P256: "ecdsa-sha256",
    KeyAlgorithm.SM2: "sm2-sm3",
}


def _chain(alg: KeyAlgorithm) -> TestPki:
    if alg is KeyAlgorithm.SM2:
        pytest.importorskip("certsvc.crypto.sm2")
    return pki(alg)


@functools.cache
def _sealer(alg: KeyAlgorithm, rogue: bool = False) -> PdfSealer:
    p = rogue_pki(alg) if rogue else pki(alg)
    return PdfSealer(
        key=p.signing_key, seal_image_png=seal_png(),
    )


def _seal(alg: KeyAlgorithm, pdf: bytes | None = None, **kw: object) -> bytes:
    args: dict[str, object] = {
        "box": BOX,
        "department_name": DEPARTMENT_NAME,
        "signed_at": SIGNED_AT,
        "reason": "电子证照签发",
    }
    args.update(kw)
    return _sealer(alg).seal(sample_pdf() if pdf is None else pdf, **args)  # type: ignore[arg-type]


def _flip_signed_byte(sealed: bytes) -> bytes:
    """Change one byte inside the signed range without breaking the PDF's structure."""
    pos = sealed.index(b"ReportLab")  # the /Producer string of the original revision
    out = bytearray(sealed)
    out[pos] = ord("r")
    return bytes(out)


# --- the contract suite: every backend -----------------------------------------------------
@pytest.mark.parametrize("alg", ALL_BACKENDS, ids=str)
def test_contract_sign_verify_tamper(alg: KeyAlgorithm) -> None:
    p = _chain(alg)
    sealed = _seal(alg)

    result = validate_pdf(sealed, trust_roots_der=[p.root_der])
    assert result.is_signed and result.bottom_line
    (check,) = result.signatures
    assert check.field_name == "Seal1"
    assert check.is_intact and check.is_trusted and check.bottom_line
    assert check.trust_explanation is None
    assert check.covers_whole_file
    assert check.modification_level is ModificationLevel.NONE
    assert check.algorithm == EXPECTED_ALGORITHM[alg]
    assert check.signing_time == SIGNED_AT
    assert check.signer_common_name == DEPARTMENT_NAME
    assert check.signer_organization == DEPARTMENT_NAME
    assert check.signer_certificate_sha256 == hashlib.sha256(p.seal_der).hexdigest()
    assert check.signed_revision_sha256 == hashlib.sha256(sealed).hexdigest()

    tampered = validate_pdf(_flip_signed_byte(sealed), trust_roots_der=[p.root_der])
    (bad,) = tampered.signatures
    assert not bad.is_intact
    assert not bad.bottom_line and not tampered.bottom_line


@pytest.mark.parametrize("alg", ALL_BACKENDS, ids=str)
def test_contract_untrusted_root(alg: KeyAlgorithm) -> None:
    _chain(alg)
    sealed = _sealer(alg, rogue=True).seal(
        sample_pdf(), box=BOX, department_name=DEPARTMENT_NAME, signed_at=SIGNED_AT, reason="x"
    )
    (check,) = validate_pdf(sealed, trust_roots_der=[pki(alg).root_der]).signatures
    assert check.is_intact  # the maths is fine ...
    assert not check.is_trusted  # ... but nobody vouches for this "department"
    assert check.trust_explanation
    assert not check.bottom_line


# --- changes after signing -----------------------------------------------------------------
def _append_page_text(sealed: bytes) -> bytes:
    w = IncrementalPdfFileWriter(io.BytesIO(sealed))
    font = w.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            }
        )
    )
    w.add_stream_to_page(
        0,
        w.add_object(
            generic.StreamObject(stream_data=b"BT /FX 24 Tf 72 600 Td (VALID UNTIL 2099) Tj ET")
        ),
        resources=generic.DictionaryObject(
            {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/FX"): font})}
        ),
    )
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def _append_text_annotation(sealed: bytes) -> bytes:
    w = IncrementalPdfFileWriter(io.BytesIO(sealed))
    page = w.root["/Pages"]["/Kids"][0].get_object()
    annot = w.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Annot"),
                pdf_name("/Subtype"): pdf_name("/FreeText"),
                pdf_name("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (72, 500, 300, 540)]
                ),
                pdf_name("/Contents"): generic.TextStringObject("有效期延至2099年"),
                pdf_name("/DA"): generic.pdf_string("/Helv 12 Tf 0 g"),
            }
        )
    )
    annots = page["/Annots"]
    annots.append(annot)
    raw = page.raw_get("/Annots")
    if isinstance(raw, generic.IndirectObject):
        w.mark_update(raw)
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


@pytest.mark.parametrize("modify", [_append_page_text, _append_text_annotation])
def test_visible_change_after_signing_fails(modify) -> None:  # type: ignore[no-untyped-def]
    p = pki(KeyAlgorithm.ECDSA_P256)
    sealed = _seal(KeyAlgorithm.ECDSA_P256)
    modified = modify(sealed)
    (check,) = validate_pdf(modified, trust_roots_der=[p.root_der]).signatures
    assert check.is_intact and check.is_trusted  # the signed revision itself is untouched
    assert not check.covers_whole_file
    assert check.modification_level is ModificationLevel.OTHER
    assert "page 1: " in check.modification_description and check.changes
    assert not check.bottom_line
    # The caller can still prove which issued file the signature belongs to.
    assert check.signed_revision_sha256 == hashlib.sha256(sealed).hexdigest()


def test_a_second_seal_is_a_change_after_the_first() -> None:
    """Only PAdES LTV data may follow a seal: another signature field is a modification."""
    p = pki(KeyAlgorithm.ECDSA_P256)
    once = _seal(KeyAlgorithm.ECDSA_P256)
    twice = _seal(
        KeyAlgorithm.ECDSA_P256,
        once,
        box=SealBox(0, 80, 80, 220, 220),
        field_name="Seal2",
    )
    first, second = validate_pdf(twice, trust_roots_der=[p.root_der]).signatures
    assert first.modification_level is ModificationLevel.OTHER
    assert "form field or widget (signed or not) added" in first.modification_description
    assert first.is_intact and not first.bottom_line and second.bottom_line
    assert first.signed_revision_sha256 == hashlib.sha256(once).hexdigest()


def test_same_field_twice_is_signing_error() -> None:
    once = _seal(KeyAlgorithm.ECDSA_P256)
    with pytest.raises(SigningError):
        _seal(KeyAlgorithm.ECDSA_P256, once)


# --- appearance, time, reuse ---------------------------------------------------------------
def test_visible_appearance_on_requested_page_and_box() -> None:
    box = SealBox(page_index=1, x1=300.5, y1=100, x2=450.5, y2=250)
    sealed = _seal(KeyAlgorithm.RSA_3072, sample_pdf(pages=2), box=box)
    reader = PdfFileReader(io.BytesIO(sealed))
    (sig,) = reader.embedded_signatures
    widget = sig.sig_field
    assert [float(v) for v in widget["/Rect"]] == [300.5, 100, 450.5, 250]
    page1 = reader.root["/Pages"]["/Kids"][1].get_object()
    assert widget.raw_get("/P").get_object() is page1 or widget["/P"] == page1
    ap = widget["/AP"]["/N"]
    resources = ap["/Resources"]
    assert "/SealImg" in resources["/XObject"]
    assert "/FSeal" in resources["/Font"]
    assert resources["/ExtGState"]["/SealGS"]["/BM"] == "/Multiply"
    content = ap.data
    # Text first, seal image drawn over it.
    assert content.index(b"BT") < content.index(b"/SealImg Do")
    # The embedded CJK subset carries a ToUnicode map, so the department name is extractable.
    font = resources["/Font"]["/FSeal"]
    assert "/ToUnicode" in font


def test_signing_time_comes_from_signed_at() -> None:
    at = datetime(2026, 1, 2, 20, 30, tzinfo=UTC)  # 2026-01-03 04:30 in Beijing
    sealed = _seal(KeyAlgorithm.ECDSA_P256, signed_at=at)
    (sig,) = PdfFileReader(io.BytesIO(sealed)).embedded_signatures
    assert sig.sig_object["/M"].startswith("D:20260102203000")
    (check,) = validate_pdf(
        sealed, trust_roots_der=[pki(KeyAlgorithm.ECDSA_P256).root_der]
    ).signatures
    assert check.signing_time == at


def test_no_dry_run_signature_per_document(monkeypatch: pytest.MonkeyPatch) -> None:
    sealer = _sealer(KeyAlgorithm.ECDSA_P256)
    calls: list[bool] = []
    inner = sealer._signer.async_sign_raw  # type: ignore[attr-defined]

    async def spy(data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        calls.append(dry_run)
        return await inner(data, digest_algorithm, dry_run)

    monkeypatch.setattr(sealer._signer, "async_sign_raw", spy)  # type: ignore[attr-defined]
    for _ in range(3):
        _seal(KeyAlgorithm.ECDSA_P256)
    assert calls == [False, False, False]


def _fresh_sealer(alg: KeyAlgorithm) -> PdfSealer:
    p = _chain(alg)
    return PdfSealer(
        key=p.signing_key, seal_image_png=seal_png(),
    )


def _signed_data(sealed: bytes) -> Any:
    (sig,) = PdfFileReader(io.BytesIO(sealed)).embedded_signatures
    return sig.signed_data


@pytest.mark.parametrize("alg", ALL_BACKENDS, ids=str)
def test_prebuilt_cms_agrees_with_pyhanko(alg: KeyAlgorithm) -> None:
    """The pre-encoded CMS is enabled (it passed the constructor's comparison) and, for a
    real signature, differs from pyHanko's generic CMS in nothing but the signature value."""
    from certsvc.crypto.pdf_cms import cms_shape

    sealer = _fresh_sealer(alg)
    signer = sealer._signer
    parts = signer._cms_parts
    assert parts is not None
    md = "sm3" if alg is KeyAlgorithm.SM2 else "sha256"
    digest = hashlib.sha256(b"document").digest()
    settings = PdfCMSSignedAttributes(signing_time=SIGNED_AT)

    ours = asyncio.run(
        signer.async_sign(digest, md, use_pades=parts.pades, signed_attr_settings=settings)
    )
    signer._cms_parts = None  # pyHanko's generic path
    try:
        generic_cms = asyncio.run(
            signer.async_sign(digest, md, use_pades=parts.pades, signed_attr_settings=settings)
        )
    finally:
        signer._cms_parts = parts
    shape, reference = list(cms_shape(ours)), list(cms_shape(generic_cms))
    sig_index = 11  # signer info signature: ECDSA/SM2 signatures are randomised
    assert shape[:sig_index] + shape[sig_index + 1 :] == (
        reference[:sig_index] + reference[sig_index + 1 :]
    )
    assert ours.dump() == cms.ContentInfo.load(ours.dump()).dump()


@pytest.mark.parametrize("alg", ALL_BACKENDS, ids=str)
def test_cms_is_der_and_embeds_the_chain_once(alg: KeyAlgorithm) -> None:
    p = _chain(alg)
    sd = _signed_data(_seal(alg))
    certs = [c.chosen.dump() for c in sd["certificates"]]
    assert sorted(certs) == certs  # DER SET OF order
    assert set(certs) == {p.seal_der, *p.chain_ders} and len(certs) == 3
    (si,) = sd["signer_infos"]
    attrs = [a.dump() for a in si["signed_attrs"]]
    assert sorted(attrs) == attrs
    types = {a["type"].native for a in si["signed_attrs"]}
    if alg is KeyAlgorithm.SM2:  # adbe.pkcs7.detached: signing time in the signed attributes
        assert types == {
            "content_type",
            "message_digest",
            "signing_certificate_v2",
            "signing_time",
            "cms_algorithm_protection",
        }
        (when,) = (
            a["values"][0].native for a in si["signed_attrs"] if a["type"].native == "signing_time"
        )
        assert when == SIGNED_AT
    else:  # PAdES B-B: no signing-time attribute
        assert types == {"content_type", "message_digest", "signing_certificate_v2"}


def test_the_prebuilt_cms_is_written_as_encoded_when_a_length_ends_in_0x80() -> None:
    # A long-form length whose last byte is 0x80 (here the ContentInfo's: 82 01 80) is taken
    # by asn1crypto for the indefinite-length marker, so its dump() re-encodes the whole value.
    # The inner OCTET STRING's length is written in three bytes instead of two (BER, not DER)
    # so that a re-encoding shows: the prebuilt CMS must come out as it was made.
    payload = bytes(364)
    inner = b"\x04\x83\x00\x01\x6c" + payload
    content = cms.ContentType("data").dump() + b"\xa0\x82" + len(inner).to_bytes(2, "big") + inner
    der = b"\x30\x82" + len(content).to_bytes(2, "big") + content
    assert der[:4] == b"\x30\x82\x01\x80"
    assert cms.ContentInfo.load(der).dump() != der  # asn1crypto's re-encoding
    encoded = _EncodedContentInfo.of(der)
    assert encoded.dump() == der
    assert encoded["content"].native == payload  # still a ContentInfo to read
    assert encoded.dump(force=True) != der  # an explicit re-encoding is still one


def test_generic_cms_path_still_seals(monkeypatch: pytest.MonkeyPatch) -> None:
    sealer = _fresh_sealer(KeyAlgorithm.ECDSA_P256)
    monkeypatch.setattr(sealer._signer, "_cms_parts", None)
    sealed = sealer.seal(
        sample_pdf(), box=BOX, department_name=DEPARTMENT_NAME, signed_at=SIGNED_AT, reason="x"
    )
    root = pki(KeyAlgorithm.ECDSA_P256).root_der
    assert validate_pdf(sealed, trust_roots_der=[root]).bottom_line


def test_appearance_drawn_once_per_name_date_and_box(monkeypatch: pytest.MonkeyPatch) -> None:
    from certsvc.crypto import pdf_signing
    from certsvc.crypto._appearance import build_seal_appearance as real

    built: list[tuple[str, str, float, float]] = []

    def counting(**kw: Any) -> Any:
        built.append((kw["department_name"], kw["date_text"], kw["width"], kw["height"]))
        return real(**kw)

    monkeypatch.setattr(pdf_signing, "build_seal_appearance", counting)
    sealer = _fresh_sealer(KeyAlgorithm.ECDSA_P256)
    small = SealBox(0, 100, 100, 200, 180)
    next_day = datetime(2025, 3, 15, 1, 0, tzinfo=UTC)
    outs = [
        sealer.seal(
            sample_pdf(), box=box, department_name=DEPARTMENT_NAME, signed_at=at, reason="x"
        )
        for box, at in [(BOX, SIGNED_AT), (BOX, SIGNED_AT), (small, SIGNED_AT), (BOX, next_day)]
    ]
    assert built == [
        (DEPARTMENT_NAME, "2025年3月14日", 140.0, 140.0),
        (DEPARTMENT_NAME, "2025年3月14日", 100.0, 80.0),
        (DEPARTMENT_NAME, "2025年3月15日", 140.0, 140.0),
    ]
    root = pki(KeyAlgorithm.ECDSA_P256).root_der
    font_programs = []
    for out, size in zip(outs, [(140, 140), (140, 140), (100, 80), (140, 140)], strict=True):
        assert validate_pdf(out, trust_roots_der=[root]).bottom_line
        (sig,) = PdfFileReader(io.BytesIO(out)).embedded_signatures
        ap = sig.sig_field["/AP"]["/N"]
        assert sorted(abs(float(v)) for v in ap["/BBox"]) == sorted([0, 0, *size])
        assert b"/SealImg Do" in ap.data and b"/FSeal" in ap.data
        cid_font = ap["/Resources"]["/Font"]["/FSeal"]["/DescendantFonts"][0]
        font_programs.append(cid_font["/FontDescriptor"]["/FontFile2"].data)
        assert font_programs[-1][:4] == b"\x00\x01\x00\x00"  # a TrueType font program
    # A template is copied, not redrawn: same font program bytes in both documents.
    assert font_programs[0] == font_programs[1]


def test_one_sealer_many_threads() -> None:
    sealer = _fresh_sealer(KeyAlgorithm.ECDSA_P256)
    days = [datetime(2025, 3, d, 3, 0, tzinfo=UTC) for d in (10, 11, 10, 11, 12, 10)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outs = list(
            pool.map(
                lambda at: sealer.seal(
                    sample_pdf(), box=BOX, department_name=DEPARTMENT_NAME, signed_at=at, reason="x"
                ),
                days,
            )
        )
    root = pki(KeyAlgorithm.ECDSA_P256).root_der
    for out, at in zip(outs, days, strict=True):
        (check,) = validate_pdf(out, trust_roots_der=[root]).signatures
        assert check.bottom_line and check.signing_time == at


def test_sealer_reused_for_many_documents() -> None:
    p = pki(KeyAlgorithm.RSA_3072)
    outs = [_seal(KeyAlgorithm.RSA_3072, sample_pdf(pages=n)) for n in (1, 2, 3)]
    for out in outs:
        assert validate_pdf(out, trust_roots_der=[p.root_der]).bottom_line


def test_certificate_must_belong_to_key() -> None:
    p = pki(KeyAlgorithm.ECDSA_P256)
    with pytest.raises(SigningError):
        PdfSealer(
            key=LoadedKey(p.seal_key, certificate_der=p.intermediate_der, chain_der=[p.root_der]), seal_image_png=seal_png(),
        )


def test_bad_seal_image() -> None:
    p = pki(KeyAlgorithm.ECDSA_P256)
    with pytest.raises(SigningError):
        PdfSealer(
            key=p.signing_key, seal_image_png=b"GIF89a not a png",
        )


def test_repr_hides_everything_but_the_algorithm() -> None:
    assert repr(_sealer(KeyAlgorithm.RSA_3072)) == "PdfSealer(algorithm='rsa-3072')"


# --- bad input -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"this is not a pdf at all",
        b"%PDF-1.7\n" + b"\x00" * 100,
        sample_pdf()[: len(sample_pdf()) // 2],  # truncated
        sample_pdf().replace(b"xref", b"xxxx").replace(b"/Root", b"/Roto"),  # malformed
    ],
    ids=["empty", "garbage", "header-only", "truncated", "malformed"],
)
def test_invalid_documents(data: bytes) -> None:
    root = pki(KeyAlgorithm.ECDSA_P256).root_der
    with pytest.raises(InvalidDocumentError):
        validate_pdf(data, trust_roots_der=[root])
    with pytest.raises(InvalidDocumentError):
        _seal(KeyAlgorithm.ECDSA_P256, data)


def test_truncated_signed_pdf() -> None:
    """Cut inside the seal's revision: the last complete revision is the unsigned one, and the
    rest of the seal's revision is bytes that are not a valid update."""
    sealed = _seal(KeyAlgorithm.ECDSA_P256)
    result = validate_pdf(sealed[:-200], trust_roots_der=[pki(KeyAlgorithm.ECDSA_P256).root_der])
    assert result.signatures == () and result.trailing_bytes > 0 and not result.bottom_line
    with pytest.raises(InvalidDocumentError):  # cut inside the first revision: nothing complete
        validate_pdf(sealed[:1000], trust_roots_der=[pki(KeyAlgorithm.ECDSA_P256).root_der])


def test_unsigned_pdf_has_no_signatures() -> None:
    result = validate_pdf(sample_pdf(), trust_roots_der=[pki(KeyAlgorithm.RSA_3072).root_der])
    assert result.signatures == ()
    assert not result.is_signed and not result.bottom_line
    assert result.file_sha256 == hashlib.sha256(sample_pdf()).hexdigest()


def test_page_out_of_range() -> None:
    with pytest.raises(InvalidDocumentError):
        _seal(KeyAlgorithm.ECDSA_P256, box=SealBox(3, 10, 10, 100, 100))


def test_expired_at_validation_time() -> None:
    p = pki(KeyAlgorithm.ECDSA_P256)
    sealed = _seal(KeyAlgorithm.ECDSA_P256)
    (check,) = validate_pdf(
        sealed, trust_roots_der=[p.root_der], validation_time=datetime(2040, 1, 1, tzinfo=UTC)
    ).signatures
    assert check.is_intact and not check.is_trusted and not check.bottom_line
    assert check.trust_explanation


def test_size_limit() -> None:
    from certsvc.errors import DocumentTooLargeError

    with pytest.raises(DocumentTooLargeError):
        validate_pdf(
            sample_pdf(), trust_roots_der=[pki(KeyAlgorithm.RSA_3072).root_der], max_bytes=100
        )


def test_image_only_appearance_draws_no_text(tmp_path: Path) -> None:
    """show_text=False: the seal image alone (the page prints the name and date itself)."""
    p = pki(KeyAlgorithm.ECDSA_P256)
    sealer = PdfSealer(
        key=p.signing_key, seal_image_png=seal_png(), show_text=False
    )
    sealed = sealer.seal(sample_pdf(), box=BOX, department_name=DEPARTMENT_NAME, signed_at=SIGNED_AT, reason="test")
    with_text = _seal(KeyAlgorithm.ECDSA_P256)
    texts = []
    for name, data in (("image-only.pdf", sealed), ("with-text.pdf", with_text)):
        (tmp_path / name).write_bytes(data)
        texts.append(subprocess.run(["pdftotext", str(tmp_path / name), "-"], capture_output=True, check=True).stdout.decode())
    assert DEPARTMENT_NAME not in texts[0] and DEPARTMENT_NAME in texts[1]
    assert validate_pdf(sealed, trust_roots_der=[p.root_der]).signatures[0].bottom_line
