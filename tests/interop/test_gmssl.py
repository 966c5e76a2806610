"""gmssl (PyPI, pure Python), a second SM2/SM3 implementation, checks what certsvc signs.

It only ever verifies: its nonces are not fit for production keys. Covered: the SM2 CMS
signature in an SM2-sealed PDF, the GB/T 38540 ``SES_Signature`` and seal (``SESeal``) in a
sealed OFD, and the SM3 digests of every file the OFD's ``Signature.xml`` lists.
"""

from __future__ import annotations

import base64
import io
import re
import zipfile

import pytest
from asn1crypto import algos, core, x509
from fastapi.testclient import TestClient

from tests.conftest import auth, sample_request
from tests.crypto.ofd_fixtures import sealed_ofd
from tests.interop.test_sm2_pdf_openssl import _cms_of
from tests.sm2_pki import build_sm2_pki

gmssl_sm2 = pytest.importorskip("gmssl.sm2")
gmssl_sm3 = pytest.importorskip("gmssl.sm3")
gmssl_func = pytest.importorskip("gmssl.func")

pytestmark = [pytest.mark.interop, pytest.mark.slow]


def _sm3(data: bytes) -> bytes:
    return bytes.fromhex(gmssl_sm3.sm3_hash(gmssl_func.bytes_to_list(data)))


def _gmssl_verifies(cert_der: bytes, message: bytes, der_signature: bytes) -> bool:
    point = x509.Certificate.load(cert_der).public_key["public_key"].native  # 04 || x || y
    assert point[0] == 4 and len(point) == 65
    rs = algos.DSASignature.load(der_signature).native
    signature = f"{rs['r']:064x}{rs['s']:064x}"
    verifier = gmssl_sm2.CryptSM2(private_key=None, public_key=point[1:].hex())
    return bool(verifier.verify_with_sm3(signature, message))  # default ID 1234567812345678


def _bits(value: core.Asn1Value) -> bytes:
    assert value.contents[0] == 0
    return bytes(value.contents[1:])


def test_gmssl_agrees_with_sm3_on_a_known_vector() -> None:
    assert _sm3(b"abc").hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_gmssl_verifies_the_sealed_ofd() -> None:
    data = sealed_ofd(build_sm2_pki(), "food-business-licence").data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    signature_xml = files["Doc_0/Signs/Sign_0/Signature.xml"]
    references = re.findall(rb'FileRef="/([^"]+)"><ofd:CheckValue>([^<]+)<', signature_xml)
    assert len(references) == len(files) - 2
    for name, value in references:
        assert _sm3(files[name.decode()]) == base64.b64decode(value), name

    ses_signature = core.Sequence.load(files["Doc_0/Signs/Sign_0/SignedValue.dat"])
    tbs = core.Sequence.load(ses_signature[0].dump())
    signer_cert = core.OctetString.load(ses_signature[1].dump()).native
    assert _bits(tbs[3]) == _sm3(signature_xml)  # dataHash
    assert _gmssl_verifies(signer_cert, tbs.dump(), _bits(ses_signature[3]))
    seal = core.Sequence.load(tbs[1].dump())
    maker_cert = core.OctetString.load(seal[1].dump()).native
    assert _gmssl_verifies(maker_cert, seal[0].dump(), _bits(seal[3]))
    assert not _gmssl_verifies(signer_cert, tbs.dump() + b"\0", _bits(ses_signature[3]))


def test_gmssl_verifies_the_sm2_pdf_signature(client: TestClient, sm2_key: str) -> None:
    body = client.post("/api/v1/certificates", json=sample_request(), headers=auth(sm2_key)).json()
    pdf = client.get(f"/api/v1/certificates/{body['identifier']}/pdf", headers=auth(sm2_key)).content
    (a, b, c, d), signed_data = _cms_of(pdf)
    signer = signed_data["signer_infos"][0]
    attrs = {attr["type"].dotted: attr for attr in signer["signed_attrs"]}
    assert attrs["1.2.840.113549.1.9.4"]["values"][0].native == _sm3(pdf[a : a + b] + pdf[c : c + d])
    serial = signer["sid"].chosen["serial_number"].native
    cert = next(cc.chosen for cc in signed_data["certificates"] if cc.chosen.serial_number == serial)
    signed_attrs = signer["signed_attrs"].untag().dump(force=True)
    assert _gmssl_verifies(cert.dump(), signed_attrs, signer["signature"].native)
    assert not _gmssl_verifies(cert.dump(), signed_attrs[:-1] + b"\0", signer["signature"].native)


def test_gmssl_verifies_the_pdf_seal_data(client: TestClient, sm2_key: str) -> None:
    """The GB/T 38540 SES_Signature stored beside an SM2-sealed PDF (``/seal-signature``)."""
    body = client.post("/api/v1/certificates", json=sample_request(), headers=auth(sm2_key)).json()
    pdf = client.get(f"/api/v1/certificates/{body['identifier']}/pdf", headers=auth(sm2_key)).content
    der = client.get(f"/api/v1/certificates/{body['identifier']}/seal-signature", headers=auth(sm2_key)).content
    ses_signature = core.Sequence.load(der)
    tbs = core.Sequence.load(ses_signature[0].dump())
    (a, b, c, d), _ = _cms_of(pdf)
    assert _bits(tbs[3]) == _sm3(pdf[a : a + b] + pdf[c : c + d])  # dataHash over the byte ranges
    signer_cert = core.OctetString.load(ses_signature[1].dump()).native
    assert _gmssl_verifies(signer_cert, tbs.dump(), _bits(ses_signature[3]))
