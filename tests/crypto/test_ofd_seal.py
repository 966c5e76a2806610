"""Sealing and verifying OFD packages (GB/T 38540 on GB/T 33190): tamper and malformed inputs."""

from __future__ import annotations

import io
import re
import zipfile

import pytest

from certsvc.crypto import ses
from certsvc.crypto.keys import KeyAlgorithm, SealKey
from certsvc.crypto.ofd_signing import SIGNATURE_PATH, SIGNED_VALUE_PATH, seal_ofd
from certsvc.crypto.ofd_validation import OfdValidationResult, validate_ofd
from certsvc.crypto.sm2 import sm3
from certsvc.errors import InvalidDocumentError, SigningError
from tests.crypto.ofd_fixtures import SIGNED_AT, SealedOfd, now, repack, sealed_ofd
from tests.sm2_pki import Sm2Pki, build_sm2_pki

pytestmark = pytest.mark.db_independent

CONTENT = "Doc_0/Pages/Page_0/Content.xml"


@pytest.fixture(scope="module")
def pki() -> Sm2Pki:
    return build_sm2_pki()


@pytest.fixture(scope="module")
def food(pki: Sm2Pki) -> SealedOfd:
    return sealed_ofd(pki, "food-business-licence")


@pytest.fixture(scope="module")
def decision(pki: Sm2Pki) -> SealedOfd:
    return sealed_ofd(pki, "administrative-licensing-decision")


def _verify(pki: Sm2Pki, data: bytes, *, roots: list[bytes] | None = None) -> OfdValidationResult:
    return validate_ofd(
        data,
        trust_roots_der=roots if roots is not None else [pki.root.cert_der],
        maker_certificates_der=[pki.intermediate.cert_der],
        validation_time=now(),
    )


def _files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {n: archive.read(n) for n in archive.namelist()}


def test_sealed_ofd_verifies(pki: Sm2Pki, food: SealedOfd) -> None:
    result = _verify(pki, food.data)
    assert result.bottom_line
    (check,) = result.signatures
    assert check.is_intact and check.is_trusted and check.ses_codes == ()
    assert check.seal_name == "锡林郭勒盟市场监督管理局电子印章"
    files = _files(food.data)
    info = ses.parse_signature(files[SIGNED_VALUE_PATH])
    assert info.data_hash == sm3(files[SIGNATURE_PATH])
    assert info.property_info == f"/{SIGNATURE_PATH}"
    assert info.seal_der == food.seal_der
    referenced = set(re.findall(rb'FileRef="/([^"]+)"', files[SIGNATURE_PATH]))
    assert {n.encode() for n in files} - referenced == {SIGNATURE_PATH.encode(), SIGNED_VALUE_PATH.encode()}


def test_unsealed_ofd_has_no_signature(pki: Sm2Pki, food: SealedOfd) -> None:
    result = _verify(pki, food.unsigned.data)
    assert result.signatures == () and not result.bottom_line


def test_text_changed_in_a_page_is_found(pki: Sm2Pki, food: SealedOfd) -> None:
    files = _files(food.data)
    holder = "锡林浩特市草原味道餐饮管理有限公司".encode()
    assert holder in files[CONTENT]
    tampered = repack(food.data, {CONTENT: files[CONTENT].replace(holder, "锡林浩特市草原味到餐饮管理有限公司".encode())})
    (check,) = _verify(pki, tampered).signatures
    assert check.changed_files == (CONTENT,) and not check.is_intact


def test_page_removed_and_page_added_are_found(pki: Sm2Pki, decision: SealedOfd) -> None:
    removed = repack(decision.data, {"Doc_0/Pages/Page_1/Content.xml": None})
    (check,) = _verify(pki, removed).signatures
    assert check.missing_files == ("Doc_0/Pages/Page_1/Content.xml",) and not check.is_intact
    files = _files(decision.data)
    added = repack(decision.data, {"Doc_0/Pages/Page_2/Content.xml": files["Doc_0/Pages/Page_1/Content.xml"]})
    result = _verify(pki, added)
    assert result.unreferenced_files == ("Doc_0/Pages/Page_2/Content.xml",) and not result.bottom_line
    document = files["Doc_0/Document.xml"].replace(b"</ofd:Pages>", b'<ofd:Page ID="999" BaseLoc="Pages/Page_2/Content.xml"/></ofd:Pages>')
    listed = repack(added, {"Doc_0/Document.xml": document})
    result = _verify(pki, listed)
    assert result.signatures[0].changed_files == ("Doc_0/Document.xml",)


def test_image_replaced_is_found(pki: Sm2Pki) -> None:
    sealed = sealed_ofd(pki, "special-operations-certificate")
    (image,) = [n for n in _files(sealed.data) if n.startswith("Doc_0/Res/image_")]
    tampered = repack(sealed.data, {image: _files(sealed.data)[image] + b"\0"})
    assert _verify(pki, tampered).signatures[0].changed_files == (image,)


def test_signed_value_from_another_licence_is_found(pki: Sm2Pki, food: SealedOfd) -> None:
    other = sealed_ofd(pki, "food-business-licence", holder_name="锡林浩特市草原人家餐饮店")
    swapped = repack(food.data, {SIGNED_VALUE_PATH: _files(other.data)[SIGNED_VALUE_PATH]})
    (check,) = _verify(pki, swapped).signatures
    assert "data_hash_mismatch" in check.ses_codes and not check.is_intact
    assert check.references_intact  # the files are the first licence's; only the seal data lies


def test_unreferenced_file_added_is_found(pki: Sm2Pki, food: SealedOfd) -> None:
    added = repack(food.data, {"Doc_0/Res/font_99.ttf": b"\0" * 64})
    result = _verify(pki, added)
    assert result.unreferenced_files == ("Doc_0/Res/font_99.ttf",)
    assert result.signatures[0].is_intact and not result.bottom_line


def test_references_edited_to_match_a_change_are_found(pki: Sm2Pki, food: SealedOfd) -> None:
    import base64

    files = _files(food.data)
    new_content = files[CONTENT].replace("食品".encode(), "药品".encode(), 1)
    old_value = base64.b64encode(sm3(files[CONTENT]))
    signature = files[SIGNATURE_PATH].replace(old_value, base64.b64encode(sm3(new_content)))
    assert signature != files[SIGNATURE_PATH]
    tampered = repack(food.data, {CONTENT: new_content, SIGNATURE_PATH: signature})
    (check,) = _verify(pki, tampered).signatures
    assert check.references_intact  # the lie is consistent …
    assert "data_hash_mismatch" in check.ses_codes and not check.is_intact  # … but not signed


def test_untrusted_root_is_reported(pki: Sm2Pki, food: SealedOfd) -> None:
    other = build_sm2_pki()
    (check,) = _verify(pki, food.data, roots=[other.root.cert_der]).signatures
    assert check.is_intact and not check.is_trusted and check.trust_explanation


def test_ecdsa_key_is_refused_with_a_stable_code(food: SealedOfd, pki: Sm2Pki) -> None:
    with SealKey.generate(KeyAlgorithm.ECDSA_P256) as key, pytest.raises(SigningError) as caught:
        seal_ofd(
            food.unsigned.data,
            seal_der=food.seal_der,
            key=key,
            certificate_der=pki.seal.cert_der,
            signed_at=SIGNED_AT,
            page_index=0,
            boundary_mm=food.unsigned.seal_box,
        )
    assert caught.value.code == "ofd_needs_sm2_seal"


def test_sealing_twice_is_refused(pki: Sm2Pki, food: SealedOfd) -> None:
    from tests.crypto.ofd_fixtures import seal_key

    with pytest.raises(SigningError):
        seal_ofd(food.data, seal_der=food.seal_der, key=seal_key(pki), certificate_der=pki.seal.cert_der,
                 signed_at=SIGNED_AT, page_index=0, boundary_mm=food.unsigned.seal_box)


def _zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, body in entries.items():
            archive.writestr(name, body)
    return out.getvalue()


OFD_XML = b'<?xml version="1.0"?><ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody/></ofd:OFD>'


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"not a zip at all", "not an OFD"),
        (_zip({"Doc_0/Document.xml": b"<x/>"}), "no OFD.xml"),
        (_zip({"OFD.xml": OFD_XML, "../../etc/passwd": b"x"}), "unsafe entry name"),
        (_zip({"OFD.xml": OFD_XML, "/abs/file": b"x"}), "unsafe entry name"),
        (_zip({"OFD.xml": OFD_XML, "Doc_0\\..\\x": b"x"}), "unsafe entry name"),
        (_zip({"OFD.xml": OFD_XML, "bomb.xml": b"\0" * (20 * 1024 * 1024)}), "ZIP bomb"),
        (_zip({"OFD.xml": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><x>&b;</x>'}), "DTD or entities"),
        (_zip({"OFD.xml": b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>'}), "DTD or entities"),
        (_zip({"OFD.xml": b"<x>" + b"a" * (9 * 1024 * 1024) + b"</x>"}, zipfile.ZIP_STORED), "larger than"),
        (_zip({"OFD.xml": b"<x><unclosed></x>"}), "not well-formed"),
    ],
)
def test_malformed_packages_are_refused(pki: Sm2Pki, data: bytes, words: str) -> None:
    with pytest.raises(InvalidDocumentError, match=words) as caught:
        _verify(pki, data)
    assert caught.value.code == "ofd_malformed"
