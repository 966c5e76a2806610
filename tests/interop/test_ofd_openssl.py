"""A sealed OFD checked step by step with the OpenSSL command line, not certsvc's SM2/SM3 code.

1. every ``Reference``: ``openssl dgst -sm3`` of the file equals its base64 ``CheckValue``;
2. ``TBS_Sign.dataHash`` equals ``openssl dgst -sm3`` of ``Signature.xml``;
3. the ``SES_Signature`` SM2 signature (default ID) over DER(TBS_Sign) verifies with the seal
   certificate, and the seal maker's signature over DER(SES_SealInfo) with the maker certificate
   (``openssl pkeyutl -verify -rawin -digest sm3 -pkeyopt distid:1234567812345678``).

The DER pieces are cut out with asn1crypto's generic SEQUENCE parser, not certsvc's SES classes.
"""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from asn1crypto import core

from tests.crypto.ofd_fixtures import sealed_ofd
from tests.sm2_pki import Sm2Pki, build_sm2_pki

pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed"),
    pytest.mark.db_independent,
]
DISTID = "distid:1234567812345678"  # GM/T 0009 default; OpenSSL 3 uses an empty ID otherwise


def _openssl(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["openssl", *map(str, args)], capture_output=True, check=False, timeout=60)


def _sm3(path: Path) -> bytes:
    result = _openssl("dgst", "-sm3", "-binary", path)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _verify(tmp: Path, name: str, cert_der: bytes, message: bytes, signature: bytes) -> subprocess.CompletedProcess[bytes]:
    (tmp / f"{name}.crt").write_bytes(cert_der)
    pub = tmp / f"{name}.pem"
    assert _openssl("x509", "-inform", "DER", "-in", tmp / f"{name}.crt", "-pubkey", "-noout", "-out", pub).returncode == 0
    (tmp / f"{name}.msg").write_bytes(message)
    (tmp / f"{name}.sig").write_bytes(signature)
    return _openssl(
        "pkeyutl", "-verify", "-pubin", "-inkey", pub, "-rawin", "-digest", "sm3",
        "-pkeyopt", DISTID, "-in", tmp / f"{name}.msg", "-sigfile", tmp / f"{name}.sig",
    )


@pytest.fixture(scope="module")
def pki() -> Sm2Pki:
    return build_sm2_pki()


def _bit_string(value: core.Asn1Value) -> bytes:
    # BIT STRING contents: one byte of unused bits (0 here), then the bytes.
    raw = value.contents
    assert raw[0] == 0
    return bytes(raw[1:])


def test_sealed_ofd_checks_out_with_the_openssl_cli(pki: Sm2Pki, tmp_path: Path) -> None:
    data = sealed_ofd(pki, "special-operations-certificate").data
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        files = {n: archive.read(n) for n in archive.namelist()}
    signature_xml = files["Doc_0/Signs/Sign_0/Signature.xml"]

    # 1. References
    references = re.findall(rb'<ofd:Reference FileRef="/([^"]+)"><ofd:CheckValue>([^<]+)</ofd:CheckValue>', signature_xml)
    assert {name.decode() for name, _ in references} == set(files) - {"Doc_0/Signs/Sign_0/Signature.xml", "Doc_0/Signs/Sign_0/SignedValue.dat"}
    for name, check_value in references:
        path = tmp_path / "file.bin"
        path.write_bytes(files[name.decode()])
        assert _sm3(path) == base64.b64decode(check_value), name

    # 2. dataHash = SM3(Signature.xml)
    ses_signature = core.Sequence.load(files["Doc_0/Signs/Sign_0/SignedValue.dat"])
    tbs, cert, _alg, signature = (ses_signature[i] for i in range(4))
    tbs = core.Sequence.load(tbs.dump())
    (tmp_path / "Signature.xml").write_bytes(signature_xml)
    assert _bit_string(tbs[3]) == _sm3(tmp_path / "Signature.xml")
    assert tbs[4].contents == b"/Doc_0/Signs/Sign_0/Signature.xml"  # propertyInfo

    # 3. the signer's signature over TBS_Sign, the maker's over SES_SealInfo
    signer_cert = core.OctetString.load(cert.dump()).native
    ok = _verify(tmp_path, "signer", signer_cert, tbs.dump(), _bit_string(signature))
    assert ok.returncode == 0 and b"Signature Verified Successfully" in ok.stdout, ok.stdout + ok.stderr
    seal = core.Sequence.load(tbs[1].dump())
    seal_info, maker_cert, _seal_alg, seal_value = (seal[i] for i in range(4))
    made = _verify(tmp_path, "maker", core.OctetString.load(maker_cert.dump()).native, seal_info.dump(), _bit_string(seal_value))
    assert made.returncode == 0, made.stdout + made.stderr

    # The same command refuses a changed TBS: the check can fail.
    changed = bytearray(tbs.dump())
    changed[-1] ^= 0x01
    assert _verify(tmp_path, "tampered", signer_cert, bytes(changed), _bit_string(signature)).returncode != 0
